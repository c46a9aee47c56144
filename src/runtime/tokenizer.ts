import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { GemmaError } from '../util/errors.js';

/** The model's own tokenizer (tokenizer.json) and its config (tokenizer_config.json, which holds the chat template). */
export interface GemmaTokenizer {
  /** Token ids of `text`, without adding BOS (chat templates and callers add it explicitly). */
  encode(text: string): number[];
  /** Text of `ids`; special tokens (<bos>, <end_of_turn> ...) are left out. */
  decode(ids: number[]): string;
  idOf(token: string): number | undefined;
  bosId: number;
  bosToken: string;
  chatTemplate: string | undefined;
  vocabSize: number;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch {
    throw new GemmaError(`cannot read ${path}`);
  }
}

export async function loadTokenizer(dir: string): Promise<GemmaTokenizer> {
  const [json, config] = await Promise.all([readJson(join(dir, 'tokenizer.json')), readJson(join(dir, 'tokenizer_config.json'))]);
  const tokenizer = new Tokenizer(json, config);
  const bosToken = typeof config.bos_token === 'string' ? config.bos_token : '<bos>';
  const bosId = tokenizer.token_to_id(bosToken);
  if (bosId === undefined) throw new GemmaError(`tokenizer has no BOS token ${bosToken}`);
  return {
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => tokenizer.decode(ids, { skip_special_tokens: true }),
    idOf: (token) => tokenizer.token_to_id(token),
    bosId,
    bosToken,
    chatTemplate: typeof config.chat_template === 'string' ? config.chat_template : undefined,
    vocabSize: tokenizer.get_vocab(true).size,
  };
}
