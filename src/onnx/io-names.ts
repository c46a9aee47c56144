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
