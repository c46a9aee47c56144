import { GemmaError } from '../util/errors.js';

/**
 * Everything Gemma's tokenizer needs, as flat tables: a SentencePiece-style BPE over the
 * whole text (spaces become ▁, no pre-tokenizer), byte fallback for characters outside the
 * vocabulary, added tokens matched in the raw text. Built from tokenizer.json, or read
 * back from the export's tables file without parsing 17 MB of JSON.
 */
export interface BpeTables {
  /** Token text by id (added tokens included, with their ids). */
  vocab: string[];
  /** Merge rank r joins ids mergeLeft[r] and mergeRight[r] into mergeResult[r]. */
  mergeLeft: Int32Array;
  mergeRight: Int32Array;
  mergeResult: Int32Array;
  /** Tokens matched in the raw text before BPE, longest first at each position. */
  addedIds: Int32Array;
  /** Tokens that decoding with special tokens skipped leaves out. */
  specialIds: Int32Array;
  unkId: number;
}

interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
  single_word?: boolean;
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[]; unk_token?: string; byte_fallback?: boolean; dropout?: number | null; continuing_subword_prefix?: string | null; end_of_word_suffix?: string | null; ignore_merges?: boolean };
  normalizer?: { type?: string; pattern?: { String?: string }; content?: string } | null;
  pre_tokenizer?: unknown;
  decoder?: { type?: string; decoders?: { type?: string }[] } | null;
  added_tokens?: AddedTokenJson[];
}

const unsupported = (what: string): GemmaError => new GemmaError(`unsupported tokenizer.json: ${what} (gemma reads Gemma 2's SentencePiece BPE tokenizer)`);

function checkShape(json: TokenizerJson): void {
  if (typeof json !== 'object' || json === null) throw unsupported('not a JSON object');
  const m = json.model;
  if (m?.type !== 'BPE' || typeof m.vocab !== 'object' || m.vocab === null || !Array.isArray(m.merges)) throw unsupported('the model is not BPE with a vocabulary and merges');
  if (m.byte_fallback !== true) throw unsupported('no byte fallback');
  if ((m.dropout ?? null) !== null || m.continuing_subword_prefix || m.end_of_word_suffix || m.ignore_merges) throw unsupported('BPE options other than Gemma\'s');
  const n = json.normalizer;
  if (n?.type !== 'Replace' || n.pattern?.String !== ' ' || n.content !== '▁') throw unsupported('a normalizer other than spaces to ▁');
  if ((json.pre_tokenizer ?? null) !== null) throw unsupported('a pre-tokenizer');
  const decoders = json.decoder?.type === 'Sequence' ? (json.decoder.decoders ?? []).map((d) => d.type).join(',') : '';
  if (decoders !== 'Replace,ByteFallback,Fuse') throw unsupported('a decoder other than ▁ to space, byte fallback, fuse');
  for (const t of json.added_tokens ?? []) {
    if (t.lstrip || t.rstrip || t.normalized || t.single_word) throw unsupported(`added token ${JSON.stringify(t.content)} with lstrip, rstrip, normalized or single_word`);
    if (typeof t.content !== 'string' || t.content === '') throw unsupported('an empty added token');
  }
}

function mergeTables(merges: (string | [string, string])[], ids: Map<string, number>): Pick<BpeTables, 'mergeLeft' | 'mergeRight' | 'mergeResult'> {
  const mergeLeft = new Int32Array(merges.length);
  const mergeRight = new Int32Array(merges.length);
  const mergeResult = new Int32Array(merges.length);
  merges.forEach((merge, rank) => {
    const [left, right] = typeof merge === 'string' ? merge.split(' ', 2) : Array.isArray(merge) ? merge : [];
    const l = ids.get(left ?? '');
    const r = ids.get(right ?? '');
    const joined = ids.get(`${left}${right}`);
    if (l === undefined || r === undefined || joined === undefined) throw unsupported(`merge ${rank} (${JSON.stringify(merge)}) names tokens outside the vocabulary`);
    mergeLeft[rank] = l;
    mergeRight[rank] = r;
    mergeResult[rank] = joined;
  });
  return { mergeLeft, mergeRight, mergeResult };
}

/** The tables of a parsed tokenizer.json; `extraSpecial` are tokenizer_config.json's additional_special_tokens. */
export function tablesFromJson(json: TokenizerJson, extraSpecial: readonly string[] = []): BpeTables {
  checkShape(json);
  const model = json.model!;
  const ids = new Map<string, number>(Object.entries(model.vocab!));
  const added = json.added_tokens ?? [];
  for (const t of added) ids.set(t.content, t.id);
  const vocab: string[] = [];
  const idsWrong = unsupported('token ids are not 0 … n−1, each once');
  for (const [token, id] of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= ids.size || vocab[id] !== undefined) throw idsWrong;
    vocab[id] = token;
  }
  if (vocab.length !== ids.size || vocab.includes(undefined as unknown as string)) throw idsWrong;
  const unkId = ids.get(model.unk_token ?? '');
  if (unkId === undefined) throw unsupported('no unknown token');
  const special = new Set([...added.filter((t) => t.special).map((t) => t.id), ...extraSpecial.flatMap((s) => ids.get(s) ?? [])]);
  return {
    vocab, unkId, ...mergeTables(model.merges!, ids),
    addedIds: Int32Array.from(added, (t) => t.id),
    specialIds: Int32Array.from(special),
  };
}
