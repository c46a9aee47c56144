import { openCheckpoint } from '../../src/checkpoint/checkpoint.js';
import type { ModelSpec } from '../../src/checkpoint/config.js';
import { expectedTensors } from '../../src/checkpoint/tensor-names.js';
import type { Weights } from '../reference/gemma2-reference.js';

/** Every tensor of a checkpoint as float64, for the reference forward pass. */
export async function loadReferenceWeights(dir: string): Promise<{ spec: ModelSpec; weights: Weights }> {
  const checkpoint = await openCheckpoint(dir);
  try {
    const tensors = new Map<string, Float64Array>();
    for (const [name, shape] of expectedTensors(checkpoint.spec)) {
      tensors.set(name, Float64Array.from(await checkpoint.rows(name, 0, shape[0]!)));
    }
    return {
      spec: checkpoint.spec,
      weights: (name) => {
        const t = tensors.get(name);
        if (t === undefined) throw new Error(`no tensor ${name}`);
        return t;
      },
    };
  } finally {
    await checkpoint.close();
  }
}
