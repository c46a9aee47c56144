import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkHubPath, isInside, printable, unsafePathReason } from '../../../src/hub/safe-path.js';

test('plain Hub file names are accepted', () => {
  for (const name of ['config.json', 'model-00001-of-00004.safetensors', 'original/params.json', 'a b/ü.json', '.gitattributes', 'x..y']) {
    assert.equal(unsafePathReason(name), undefined, name);
    assert.equal(checkHubPath(name, 'test'), name);
  }
});

test('names that could leave the cache folder or confuse a terminal are refused', () => {
  const hostile = ['', '../x', 'a/../../x', '..', '.', 'a/./b', '/etc/passwd', 'a//b', 'a/', '..\\..\\x', 'C:\\x', 'x\u0000.json', 'x\n.json', 'x\u001b[2J', 'x\u009b', 'a'.repeat(256), 'x'.repeat(1025)];
  for (const name of hostile) {
    assert.notEqual(unsafePathReason(name), undefined, JSON.stringify(name));
    assert.throws(() => checkHubPath(name, 'google/x'), /^GemmaError: google\/x: refusing file name/);
  }
  assert.throws(() => checkHubPath(42, 'w'), /not a string/);
});

test('printable escapes control and non-ASCII characters', () => {
  assert.equal(printable('a\u001b[2Jb'), '"a\\u001b[2Jb"');
  assert.equal(printable('ü\u202e'), '"\\u00fc\\u202e"');
});

test('isInside', () => {
  assert.ok(isInside('/a/b', '/a/b'));
  assert.ok(isInside('/a/b', '/a/b/c'));
  assert.ok(!isInside('/a/b', '/a/bc'));
  assert.ok(!isInside('/a/b', '/a'));
});
