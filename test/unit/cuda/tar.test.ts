import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { extractEntries, parsePax, safeEntryName } from '../../../src/cuda/tar.js';
import { tempDirs } from '../../helpers/temp-dirs.js';

const tempDir = tempDirs('gemma-tar-');

const LONG = `${'deep-folder-name/'.repeat(8)}libwith-a-name-longer-than-a-hundred-characters.so`;

/** A scratch folder holding `src/<files>` and an empty `out/`. */
async function scratch(files: Record<string, string | Buffer>): Promise<{ dir: string; src: string; out: string }> {
  const dir = await tempDir();
  for (const [name, data] of Object.entries(files)) {
    await mkdir(join(dir, 'src', name, '..'), { recursive: true });
    await writeFile(join(dir, 'src', name), data);
  }
  await mkdir(join(dir, 'out'));
  return { dir, src: join(dir, 'src'), out: join(dir, 'out') };
}

const tgz = (cwd: string, names: string[], ...flags: string[]): Buffer => execFileSync('tar', ['-cz', ...flags, '-f', '-', ...names], { cwd, maxBuffer: 1 << 26 });

for (const format of ['gnu', 'pax']) {
  test(`extracts only the wanted entries of a ${format} tarball, long names included, with sizes and sha256`, async () => {
    const big = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i % 256));
    const s = await scratch({ [LONG]: big, 'short.txt': 'hello', 'skip.bin': 'not wanted' });
    const archive = tgz(s.src, [LONG, 'short.txt', 'skip.bin'], `--format=${format}`);
    const wanted = new Map([[LONG, join(s.out, 'long')], ['short.txt', join(s.out, 'short')]]);
    const got = await extractEntries(Readable.from([archive]), wanted);
    assert.deepEqual(await readFile(join(s.out, 'long')), big);
    assert.equal(await readFile(join(s.out, 'short'), 'utf8'), 'hello');
    assert.deepEqual(got.get(LONG), { bytes: big.length, sha256: createHash('sha256').update(big).digest('hex') });
    assert.deepEqual((await readdir(s.out)).sort(), ['long', 'short']);
  });
}

test('reads a tarball arriving in small pieces', async () => {
  const s = await scratch({ 'a.txt': 'x'.repeat(5000) });
  const archive = tgz(s.src, ['a.txt']);
  const pieces = Array.from({ length: Math.ceil(archive.length / 7) }, (_, i) => archive.subarray(i * 7, i * 7 + 7));
  await extractEntries(Readable.from(pieces), new Map([['a.txt', join(s.out, 'a')]]));
  assert.equal(await readFile(join(s.out, 'a'), 'utf8'), 'x'.repeat(5000));
});

test('rejects an entry that climbs out with ../, and writes nothing outside', async () => {
  const s = await scratch({ 'inner/ok.txt': 'ok' });
  await writeFile(join(s.dir, 'evil'), 'evil');
  // -P keeps the leading ../ that tar would otherwise strip.
  const archive = tgz(join(s.src, 'inner'), ['ok.txt', '../../evil'], '-P');
  await assert.rejects(extractEntries(Readable.from([archive]), new Map([['ok.txt', join(s.out, 'ok')], ['evil', join(s.out, 'evil')]])), /points outside/);
  assert.ok(!existsSync(join(s.out, 'evil')));
});

test('safeEntryName strips ./ and refuses absolute and .. names', () => {
  assert.equal(safeEntryName('./package/a.so'), 'package/a.so');
  assert.throws(() => safeEntryName('/etc/passwd'), /outside/);
  assert.throws(() => safeEntryName('package/../../x'), /outside/);
  assert.equal(safeEntryName('package/..x'), 'package/..x');
});

test('parsePax reads length-prefixed records', () => {
  const record = (k: string, v: string): string => {
    const body = ` ${k}=${v}\n`;
    // The length counts its own digits.
    for (let n = body.length + 1; ; n++) if (String(n).length + body.length === n) return `${n}${body}`;
  };
  const pax = parsePax(Buffer.from(record('path', 'a/b c.so') + record('size', '12')));
  assert.equal(pax.get('path'), 'a/b c.so');
  assert.equal(pax.get('size'), '12');
});

test('reports a missing wanted entry, non-gzip input and a cut-off archive', async () => {
  const s = await scratch({ 'a.txt': 'a'.repeat(100_000) });
  const archive = tgz(s.src, ['a.txt']);
  await assert.rejects(extractEntries(Readable.from([archive]), new Map([['b.txt', join(s.out, 'b')]])), /the archive has no b\.txt/);
  await assert.rejects(extractEntries(Readable.from([Buffer.from('plain text, not gzip')]), new Map()), /damaged archive/);
  await assert.rejects(extractEntries(Readable.from([archive.subarray(0, archive.length >> 1)]), new Map([['a.txt', join(s.out, 'a2')]])), /damaged archive/);
  await assert.rejects(extractEntries(Readable.from([gzipSync(Buffer.alloc(512, 1))]), new Map()), /damaged archive/);
});

test('streams from a file', async () => {
  const s = await scratch({ 'f.txt': 'file' });
  const path = join(s.dir, 'f.tgz');
  await writeFile(path, tgz(s.src, ['f.txt']));
  await extractEntries(createReadStream(path), new Map([['f.txt', join(s.out, 'f')]]));
  assert.equal(await readFile(join(s.out, 'f'), 'utf8'), 'file');
});
