import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, type Manifest } from '../../src/export/manifest.js';
import { DataType, onnx, type GraphProto, type NodeProto, type ValueInfoProto } from '../../src/onnx/proto.js';
import { f16ToF32 } from '../../src/util/float16.js';

const elemTypes = (infos: ValueInfoProto[] | null | undefined): Map<string, number> =>
  new Map((infos ?? []).map((v) => [v.name ?? '', v.type?.tensorType?.elemType ?? 0]));

export interface DecodedNode {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attrs: Record<string, { i: number; f: number; s: string }>;
}

export interface DecodedTensor {
  name: string;
  /** onnx TensorProto.DataType */
  dataType: number;
  values: number[];
  external?: { location: string; offset: number; length: number };
}

export interface DecodedModel {
  irVersion: number;
  opsets: [string, number][];
  nodes: Map<string, DecodedNode>;
  /** The nodes inside If branches, at any depth. */
  branchNodes: DecodedNode[];
  initializers: Map<string, DecodedTensor>;
  /** Graph inputs and outputs with their element types. */
  inputs: Map<string, number>;
  outputs: Map<string, number>;
}

const halves = (bits: number[]): number[] => {
  const out = new Float32Array(bits.length);
  f16ToF32(Uint16Array.from(bits), out);
  return [...out];
};

const decodeNode = (n: NodeProto): DecodedNode => ({
  name: n.name ?? '',
  opType: n.opType ?? '',
  input: n.input ?? [],
  output: n.output ?? [],
  attrs: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', { i: Number(a.i ?? 0), f: a.f ?? 0, s: Buffer.from(a.s ?? []).toString() }])),
});

/** Every node of the subgraphs held by `nodes`' attributes, recursively. */
const branchNodes = (nodes: NodeProto[]): DecodedNode[] =>
  nodes.flatMap((n) => (n.attribute ?? []).flatMap((a) => (a.g ? [a.g] : [])))
    .flatMap((g: GraphProto) => [...(g.node ?? []).map(decodeNode), ...branchNodes(g.node ?? [])]);

/** Decodes a model.onnx into plain records (the protobuf types are all optional). */
export async function decodeModel(path: string): Promise<DecodedModel> {
  const m = onnx.ModelProto.decode(await readFile(path));
  const graph = m.graph!;
  const nodes = new Map<string, DecodedNode>((graph.node ?? []).map((n) => [n.name ?? '', decodeNode(n)]));
  const initializers = new Map<string, DecodedTensor>((graph.initializer ?? []).map((t) => {
    const entry = (key: string): string | undefined => (t.externalData ?? []).find((e) => e.key === key)?.value ?? undefined;
    const location = entry('location');
    const values = (t.floatData ?? []).length > 0 ? [...(t.floatData ?? [])]
      : t.dataType === DataType.float16 ? halves(t.int32Data ?? []) : (t.int64Data ?? []).map(Number);
    const external = location === undefined ? {} : { external: { location, offset: Number(entry('offset')), length: Number(entry('length')) } };
    return [t.name ?? '', { name: t.name ?? '', dataType: t.dataType ?? 0, values, ...external }];
  }));
  return {
    irVersion: Number(m.irVersion),
    opsets: (m.opsetImport ?? []).map((o) => [o.domain ?? '', Number(o.version)]),
    nodes,
    branchNodes: branchNodes(graph.node ?? []),
    initializers,
    inputs: elemTypes(graph.input),
    outputs: elemTypes(graph.output),
  };
}

/**
 * Decodes every graph of an export and merges them, as if they were one: nodes,
 * initializers and I/O by name (the tensors a stage hands to the next appear as both).
 */
export async function decodeExport(dir: string): Promise<DecodedModel> {
  const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  const stages = await Promise.all(manifest.stages.map((s) => decodeModel(join(dir, s.file))));
  const merge = <T>(pick: (m: DecodedModel) => Map<string, T>): Map<string, T> => new Map(stages.flatMap((m) => [...pick(m)]));
  return {
    irVersion: stages[0]!.irVersion,
    opsets: stages[0]!.opsets,
    nodes: merge((m) => m.nodes),
    branchNodes: stages.flatMap((m) => m.branchNodes),
    initializers: merge((m) => m.initializers),
    inputs: merge((m) => m.inputs),
    outputs: merge((m) => m.outputs),
  };
}
