import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageAssembler } from '../../../src/commands/chat-input.js';

/** Feeds [line, pasting] pairs and returns the messages they complete. */
function messages(lines: [string, boolean][], assembler = new MessageAssembler()): string[] {
  return lines.flatMap(([line, pasting]) => assembler.add(line, pasting) ?? []);
}

const typed = (line: string): [string, boolean] => [line, false];
const pasted = (line: string): [string, boolean] => [line, true];

test('each typed line is a message; """ mid-line is text', () => {
  assert.deepEqual(messages([typed('hi'), typed('abc """'), typed('')]), ['hi', 'abc """', '']);
});

test('a """ block is one message up to the line ending in """, newlines kept', () => {
  const assembler = new MessageAssembler();
  assert.deepEqual(messages([typed('"""first'), typed(''), typed('  indented')], assembler), []);
  assert.ok(assembler.open);
  assert.deepEqual(messages([typed('last"""  '), typed('after')], assembler), ['first\n\n  indented\nlast', 'after']);
  assert.ok(!assembler.open);
  assert.deepEqual(messages([typed('  """one line"""'), typed('"""'), typed('"""')]), ['one line', '\n']);
});

test('a bracketed paste is one message with the typed rest of its last line; a paste inside a block joins it', () => {
  assert.deepEqual(messages([pasted('one'), pasted('two'), typed('three and typed')]), ['one\ntwo\nthree and typed']);
  assert.deepEqual(messages([pasted('ends with a newline'), typed('')]), ['ends with a newline\n']);
  assert.deepEqual(messages([pasted('"""code'), typed('not a block')]), ['"""code\nnot a block']);
  assert.deepEqual(messages([typed('"""'), pasted('a'), typed('b'), typed('c"""')]), ['\na\nb\nc']);
});

test('discard drops an open message and says whether there was one', () => {
  const assembler = new MessageAssembler();
  assert.equal(assembler.discard(), false);
  messages([typed('"""draft'), pasted('more')], assembler);
  assert.equal(assembler.discard(), true);
  assert.deepEqual(messages([typed('fresh')], assembler), ['fresh']);
});
