import { GemmaBpe, type SpecialStrings, type TextPiece } from '../tokenizer/gemma-bpe.js';
import { readTables, readTokenizerConfig } from '../tokenizer/tokenizer-files.js';
import { GemmaError } from '../util/errors.js';

/** The model's own tokenizer (tokenizer.json) and its config (tokenizer_config.json, which holds the chat template). */
export interface GemmaTokenizer {
  /** Token ids of `text`, without adding BOS (chat templates and callers add it explicitly); special-token strings in it are text unless `specials` is 'control'. */
  encode(text: string, specials?: SpecialStrings): number[];
  /** Token ids of the pieces as one text, each piece's special-token strings read as it says (a chat template's text and the messages in it). */
  encodePieces(pieces: readonly TextPiece[]): number[];
  /** Text of `ids`; special tokens (<bos>, <end_of_turn> ...) are left out. */
  decode(ids: number[]): string;
  /** The byte a byte-fallback token stands for (undefined for other ids): what a streamed decode needs to tell an incomplete character. */
  byteOf(id: number): number | undefined;
  /** Whether decode leaves `id` out. */
  isSpecial(id: number): boolean;
  idOf(token: string): number | undefined;
  bosId: number;
  bosToken: string;
  chatTemplate: string | undefined;
  vocabSize: number;
}

export async function loadTokenizer(dir: string): Promise<GemmaTokenizer> {
  const config = await readTokenizerConfig(dir);
  const bpe = new GemmaBpe(await readTables(dir, config));
  const bosToken = typeof config.bos_token === 'string' ? config.bos_token : '<bos>';
  const bosId = bpe.idOf(bosToken);
  if (bosId === undefined) throw new GemmaError(`tokenizer has no BOS token ${bosToken}`);
  return {
    encode: (text, specials) => bpe.encode(text, specials),
    encodePieces: (pieces) => bpe.encodePieces(pieces),
    decode: (ids) => bpe.decode(ids),
    byteOf: (id) => bpe.byteOf(id),
    isSpecial: (id) => bpe.isSpecial(id),
    idOf: (token) => bpe.idOf(token),
    bosId,
    bosToken,
    chatTemplate: typeof config.chat_template === 'string' ? config.chat_template : undefined,
    vocabSize: bpe.vocabSize,
  };
}
