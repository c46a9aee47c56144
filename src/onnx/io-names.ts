/** Names of the exported graph's inputs and outputs: the contract between converter and runtime (docs/graph-contract.md). */
export const INPUT_IDS = 'input_ids';
export const POSITION_IDS = 'position_ids';
export const LOGITS_TO_KEEP = 'logits_to_keep';
export const LOGITS = 'logits';
/** A layer's cached keys, [kv_heads, capacity, head_dim]: rows at and after position_ids[0] are padding. */
export const pastKey = (layer: number): string => `past_key_values.${layer}.key`;
/** A layer's cached values, transposed: [kv_heads, head_dim, capacity]. */
export const pastValue = (layer: number): string => `past_key_values.${layer}.value`;
export const newKey = (layer: number): string => `new_key_values.${layer}.key`;
export const newValue = (layer: number): string => `new_key_values.${layer}.value`;
/** The residual stream entering layer `layer`, [S, hidden] fp32: one stage's output and the next one's input. */
export const hiddenStates = (layer: number): string => `hidden_states.${layer}`;

/** The decode loop's graph (docs/graph-contract.md, "The decode loop"): at most this many steps, a scalar. */
export const MAX_STEPS = 'max_steps';
/** Sampled tokens that end the loop after the step that sampled them. */
export const STOP_IDS = 'stop_ids';
/** The sampled tokens, one per step run. */
export const TOKENS = 'tokens';
/** Sampling parameters and the host's uniform draws, one per step. */
export const SAMPLING_INPUTS = {
  draws: 'draws',
  temperature: 'temperature',
  topK: 'top_k',
  topP: 'top_p',
  minP: 'min_p',
  repeatPenalty: 'repeat_penalty',
  repeatLastN: 'repeat_last_n',
  recentIds: 'recent_ids',
} as const;
