/** Names of the exported graph's inputs and outputs: the contract between converter and runtime (docs/graph-contract.md). */
export const INPUT_IDS = 'input_ids';
export const POSITION_IDS = 'position_ids';
export const LOGITS_TO_KEEP = 'logits_to_keep';
export const LOGITS = 'logits';
/** Per KV head: the runtime feeds each head's cached rows as its own contiguous [rows, head_dim] view. */
export const pastKey = (layer: number, head: number): string => `past_key_values.${layer}.key.${head}`;
export const pastValue = (layer: number, head: number): string => `past_key_values.${layer}.value.${head}`;
export const newKey = (layer: number): string => `new_key_values.${layer}.key`;
export const newValue = (layer: number): string => `new_key_values.${layer}.value`;
