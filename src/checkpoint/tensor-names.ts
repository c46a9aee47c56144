import type { ModelSpec } from './config.js';

/** Hugging Face tensor names of a Gemma 2 checkpoint, layout [out_features, in_features]. */
export const EMBED_TOKENS = 'model.embed_tokens.weight';
export const FINAL_NORM = 'model.norm.weight';

export type Projection = 'q_proj' | 'k_proj' | 'v_proj' | 'o_proj';
export type MlpProjection = 'gate_proj' | 'up_proj' | 'down_proj';
export type LayerNorm = 'input_layernorm' | 'post_attention_layernorm' | 'pre_feedforward_layernorm' | 'post_feedforward_layernorm';

export const attnWeight = (layer: number, p: Projection): string => `model.layers.${layer}.self_attn.${p}.weight`;
export const mlpWeight = (layer: number, p: MlpProjection): string => `model.layers.${layer}.mlp.${p}.weight`;
export const normWeight = (layer: number, n: LayerNorm): string => `model.layers.${layer}.${n}.weight`;

export const LAYER_NORMS: LayerNorm[] = ['input_layernorm', 'post_attention_layernorm', 'pre_feedforward_layernorm', 'post_feedforward_layernorm'];

/** Every tensor the forward pass reads, with the shape config.json implies. */
export function expectedTensors(spec: ModelSpec): Map<string, number[]> {
  const { hidden_size: h, intermediate_size: ff, vocab_size: v, num_hidden_layers: n } = spec.config;
  const shapes = new Map<string, number[]>([[EMBED_TOKENS, [v, h]]]);
  for (let i = 0; i < n; i++) {
    shapes.set(attnWeight(i, 'q_proj'), [spec.qDim, h]);
    shapes.set(attnWeight(i, 'k_proj'), [spec.kvDim, h]);
    shapes.set(attnWeight(i, 'v_proj'), [spec.kvDim, h]);
    shapes.set(attnWeight(i, 'o_proj'), [h, spec.qDim]);
    shapes.set(mlpWeight(i, 'gate_proj'), [ff, h]);
    shapes.set(mlpWeight(i, 'up_proj'), [ff, h]);
    shapes.set(mlpWeight(i, 'down_proj'), [h, ff]);
    for (const norm of LAYER_NORMS) shapes.set(normWeight(i, norm), [h]);
  }
  shapes.set(FINAL_NORM, [h]);
  return shapes;
}
