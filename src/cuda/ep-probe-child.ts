/**
 * Run by probeExecutionProvider as `node ep-probe-child.js <ep>`: one session with one Add node on the given
 * execution provider, reported as one JSON line on stdout. It runs in a process of its own because a provider
 * that fails to load logs to stderr, and a mismatched native library can take the whole process down.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../onnx/graph-builder.js';

const A = [1, 2, 3];
const B = [10, 20, 30];

function addModel(): Uint8Array {
  const graph = new GraphBuilder();
  graph.input('a', 'float32', [A.length]);
  graph.input('b', 'float32', [B.length]);
  graph.op('Add', 'sum', ['a', 'b']);
  graph.output('sum', 'float32', [A.length]);
  return graph.serialize('ep-probe', 'probe', {});
}

async function probe(ep: string): Promise<{ ok: true; ms: number } | { ok: false; message: string }> {
  const started = performance.now();
  try {
    const session = await ort.InferenceSession.create(addModel(), { executionProviders: [ep] });
    const feeds = { a: new ort.Tensor('float32', Float32Array.from(A), [A.length]), b: new ort.Tensor('float32', Float32Array.from(B), [B.length]) };
    const sum = [...((await session.run(feeds)).sum!.data as Float32Array)];
    await session.release();
    const expected = A.map((a, i) => a + B[i]!);
    if (sum.join() !== expected.join()) return { ok: false, message: `wrong result from the ${ep} provider: [${sum.join(', ')}], expected [${expected.join(', ')}]` };
    return { ok: true, ms: Number((performance.now() - started).toFixed(1)) };
  } catch (err) {
    return { ok: false, message: (err as Error).message ?? String(err) };
  }
}

process.stdout.write(`${JSON.stringify(await probe(process.argv[2] ?? 'cpu'))}\n`);
