import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../../src/onnx/graph-builder.js';
import { graph } from '../../../src/onnx/proto.js';

test('an If branch reads the outer graph by name, shares its names, and runs in onnxruntime', async () => {
  const g = new GraphBuilder();
  g.input('x', 'float32', [2]);
  g.input('pick', 'bool', []);
  const doubled = g.branch('double', 'float32', (b) => [b.op('Add', 'doubled', ['x', 'x'])]);
  const negated = g.branch('negate', 'float32', (b) => [b.op('Neg', 'negated', ['x'])]);
  assert.throws(() => g.branch('clash', 'float32', (b) => [b.op('Neg', 'doubled', ['x'])]), /duplicate graph name doubled/);
  g.node('If', 'choose', ['pick'], { attrs: { then_branch: graph(doubled), else_branch: graph(negated) }, outputs: ['y'] });
  g.output('y', 'float32', [2]);
  const session = await ort.InferenceSession.create(g.serialize('if', '0', {}), { intraOpNumThreads: 1 });
  const x = new ort.Tensor('float32', Float32Array.from([1, -3]), [2]);
  const run = async (pick: boolean): Promise<number[]> => [...((await session.run({ x, pick: new ort.Tensor('bool', [pick], []) })).y!.data as Float32Array)];
  assert.deepEqual(await run(true), [2, -6]);
  assert.deepEqual(await run(false), [-1, 3]);
  await session.release();
});
