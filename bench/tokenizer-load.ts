/**
 * Loading Gemma's tokenizer from an export: from its tables file, from tokenizer.json, and
 * with @huggingface/tokenizers (what gemma used before), each in a fresh process: time to
 * a usable tokenizer, and the process's peak RSS.
 *
 *   node dist/bench/tokenizer-load.js <export> [-r 3]
 */
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
import { GemmaBpe } from '../src/tokenizer/gemma-bpe.js';
import { readTables, readTokenizerConfig, tablesFromFolder } from '../src/tokenizer/tokenizer-files.js';

type Source = 'tables' | 'json' | 'library';

async function child(dir: string, source: Source): Promise<void> {
  const started = performance.now();
  const config = await readTokenizerConfig(dir);
  let encode: (text: string) => number[];
  if (source === 'library') {
    const tokenizer = new Tokenizer(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>, config);
    encode = (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  } else {
    const bpe = new GemmaBpe(source === 'tables' ? await readTables(dir, config) : await tablesFromFolder(dir, config));
    encode = (text) => bpe.encode(text);
  }
  const ms = performance.now() - started;
  if (encode('hi').length === 0) throw new Error('empty encoding');
  process.stdout.write(JSON.stringify({ ms, peakRss: process.resourceUsage().maxRSS * 1024 }));
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { r: { type: 'string', default: '3' }, child: { type: 'string' } } });
  const dir = positionals[0];
  if (dir === undefined) throw new Error('usage: tokenizer-load.js <export> [-r 3]');
  if (values.child !== undefined) {
    void child(dir, values.child as Source);
    return;
  }
  for (let round = 0; round < Number(values.r); round++) {
    for (const source of ['tables', 'json', 'library'] as const) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), dir, '--child', source], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      const { ms, peakRss } = JSON.parse(r.stdout) as { ms: number; peakRss: number };
      process.stdout.write(`${source}: ${ms.toFixed(0)} ms, process peak RSS ${(peakRss / 1e9).toFixed(2)} GB\n`);
    }
  }
}

main();
