import {
  attributeProto, DataType, IR_VERSION, onnx, OPSETS, typedValue, valueInfo,
  type Attribute, type DType, type GraphProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from './proto.js';
import { f32ToF16 } from '../util/float16.js';

export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

export interface NodeOptions {
  domain?: 'com.microsoft';
  attrs?: Record<string, Attribute>;
  /** Output tensor names; by default one output named like the node. */
  outputs?: string[];
}

/** Collects the nodes, initializers and I/O of one ONNX graph, then serializes it. */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];

  /** A branch shares its parent's names: a subgraph may read the outer graph's tensors, never shadow them. */
  constructor(private readonly names = new Set<string>()) {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`duplicate graph name ${name}`);
    this.names.add(name);
    return name;
  }

  /** Adds a node; returns its output names (the first is the node's name unless given). */
  node(opType: string, name: string, inputs: string[], options: NodeOptions = {}): string[] {
    const outputs = options.outputs ?? [name];
    outputs.forEach((o) => o !== '' && this.claim(o));
    this.nodes.push({
      name,
      opType,
      domain: options.domain ?? '',
      input: inputs,
      output: outputs,
      attribute: Object.entries(options.attrs ?? {}).map(([k, v]) => attributeProto(k, v)),
    });
    return outputs;
  }

  /** A single-output node, returning that output's name. */
  op(opType: string, name: string, inputs: string[], options: Omit<NodeOptions, 'outputs'> = {}): string {
    return this.node(opType, name, inputs, options)[0]!;
  }

  input(name: string, dtype: DType, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(this.claim(name), dtype, dims));
    return name;
  }

  /** Declares an already-produced tensor as a graph output. */
  output(name: string, dtype: DType, dims: (number | string)[]): void {
    if (!this.names.has(name)) throw new Error(`graph output ${name} is not produced by any node`);
    this.outputs.push(valueInfo(name, dtype, dims));
  }

  /** A small constant stored inside the protobuf. */
  constant(name: string, dtype: 'int64' | 'float32' | 'float16' | 'float64', dims: number[], values: number[]): string {
    const tensor: TensorProto = { name: this.claim(name), dims, dataType: DataType[dtype] };
    if (dtype === 'int64') tensor.int64Data = values;
    // onnx.proto: float16 values travel as their bit patterns in int32_data.
    else if (dtype === 'float16') tensor.int32Data = values.map(f32ToF16);
    else if (dtype === 'float64') tensor.doubleData = values;
    else tensor.floatData = values;
    this.initializers.push(tensor);
    return name;
  }

  /** A weight whose bytes live in the external data file. */
  external(name: string, dtype: DType, dims: number[], ref: ExternalRef): string {
    this.initializers.push({
      name: this.claim(name),
      dims,
      dataType: DataType[dtype],
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: ref.location },
        { key: 'offset', value: String(ref.offset) },
        { key: 'length', value: String(ref.length) },
      ],
    });
    return name;
  }

  /**
   * A subgraph (an If branch) built by `build`, which returns its results; they leave the
   * branch under their own names, typed `dtype`. Tensors of the enclosing graph are read
   * by name.
   */
  branch(name: string, dtype: DType, build: (b: GraphBuilder) => string[]): GraphProto {
    const b = this.child();
    return b.asSubgraph(name, build(b).map((r) => ({ name: r, dtype })));
  }

  /** A builder for a subgraph (a Loop body, whose inputs it declares) that reads this graph's tensors by name. */
  child(): GraphBuilder {
    return new GraphBuilder(this.names);
  }

  /** What this builder holds as a subgraph whose results are `outputs`. */
  asSubgraph(name: string, outputs: { name: string; dtype: DType }[]): GraphProto {
    return { name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: outputs.map((r) => typedValue(r.name, r.dtype)) };
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  serialize(graphName: string, producerVersion: string, metadata: Record<string, string>): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'gemma',
      producerVersion,
      opsetImport: OPSETS,
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}
