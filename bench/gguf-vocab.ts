/**
 * The SentencePiece-style ("llama") vocabulary metadata llama.cpp wants, built from a Gemma tokenizer.json.
 * convert_hf_to_gguf.py reads tokenizer.model instead; our checkpoints ship only tokenizer.json, whose BPE vocab is
 * the same id → piece table. Scores are -id (SentencePiece BPE ranks pieces by id), which is what llama.cpp's SPM
 * tokenizer uses to order merges. Benchmarks feed token ids directly, so tokenization fidelity does not affect them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MetaValue } from './gguf-writer.js';

/** llama_token_type values (gguf-py TokenType). */
const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, BYTE: 6 } as const;

interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

interface TokenizerJson {
  model: { type: string; vocab: Record<string, number>; unk_token?: string };
  added_tokens?: AddedToken[];
}

export interface VocabIds {
  bos: number;
  eos: number;
  pad: number;
  vocabSize: number;
}

export async function vocabMetadata(dir: string, ids: VocabIds): Promise<Array<[string, MetaValue]>> {
  const json = JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as TokenizerJson;
  if (json.model.type !== 'BPE') throw new Error(`tokenizer.json model type ${json.model.type}, expected Gemma's BPE`);
  const tokens = new Array<string>(ids.vocabSize).fill('');
  const types = new Int32Array(ids.vocabSize).fill(TokenType.NORMAL);
  const scores = new Float32Array(ids.vocabSize);
  for (const [piece, id] of Object.entries(json.model.vocab)) {
    if (id >= ids.vocabSize) continue;
    tokens[id] = piece;
    scores[id] = -id;
    if (/^<0x[0-9A-F]{2}>$/.test(piece)) types[id] = TokenType.BYTE;
  }
  for (const t of json.added_tokens ?? []) {
    if (t.id >= ids.vocabSize) continue;
    tokens[t.id] = t.content;
    scores[t.id] = 0;
    types[t.id] = t.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  // Unfilled slots (a checkpoint whose embedding is larger than its vocab) must still be unique strings.
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === '') tokens[i] = `<unused-slot-${i}>`;
  const unkPiece = json.model.unk_token ?? '<unk>';
  const unk = tokens.indexOf(unkPiece);
  if (unk >= 0) types[unk] = TokenType.UNKNOWN;
  return [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: ids.bos }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: ids.eos }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: unk >= 0 ? unk : 3 }],
    ['tokenizer.ggml.padding_token_id', { type: 'u32', value: ids.pad }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
    // Gemma2Model.set_vocab in convert_hf_to_gguf.py sets this: Gemma's normalizer adds no leading space.
    ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: false }],
  ];
}
