/**
 * Building an ONNX model: a graph of nodes over named values, weights as
 * initializers (raw little-endian bytes), written as a ModelProto
 * (field numbers from onnx/onnx.proto, IR version 8, default-domain opset).
 */
import { ProtoMessage } from '../util/protobuf';

/** TensorProto.DataType values used here. */
export const FLOAT = 1;
export const UINT8 = 2;
export const INT8 = 3;
export const INT32 = 6;
export const INT64 = 7;
export const FLOAT16 = 10;

/** Opset of the default domain: 17 has LayerNormalization. */
export const OPSET = 17;
/** IR version 8 is the one opset 17 came with; every ONNX runtime since 2022 reads it. */
const IR_VERSION = 8;

/** Protobuf's hard limit on one message: larger models keep their weights in an external data file. */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;
/** With external data, initializers of at least this many bytes go to the data file (small ones stay inline). */
const EXTERNAL_MIN_BYTES = 1024;

export interface Initializer {
  name: string;
  dataType: number;
  raw: Uint8Array;
  dims: readonly number[];
}

/** A written model: the ModelProto and, with external data, the data file's chunks in order. */
export interface WrittenModel {
  model: ProtoMessage;
  /** Empty unless external data was asked for. */
  data: Uint8Array[];
}

export type Attribute = { int: number } | { float: number } | { ints: readonly number[] } | { string: string };

/** A dimension: a fixed size or a named symbolic one (e.g. the batch). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  elemType: number;
  dims: readonly Dim[];
}

/** A node as added, kept beside its protobuf form so that passes over the graph (autodiff.ts) can read it. */
export interface NodeRecord {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes: Readonly<Record<string, Attribute>>;
}

/** A node's integer attribute, or `fallback` when it has none. */
export function attrInt(node: NodeRecord, key: string, fallback: number): number {
  const a = node.attributes[key];
  return a && 'int' in a ? a.int : fallback;
}

/** A node's integer-list attribute, if it has one. */
export function attrInts(node: NodeRecord, key: string): readonly number[] | undefined {
  const a = node.attributes[key];
  return a && 'ints' in a ? a.ints : undefined;
}

export class GraphBuilder {
  private readonly nodes: ProtoMessage[] = [];
  private readonly records: NodeRecord[] = [];
  /** Dimensions of the graph inputs and initializers; values of the int64 initializers (shapes, axes, indices). */
  private readonly declared = new Map<string, readonly Dim[]>();
  private readonly int64Constants = new Map<string, readonly number[]>();
  private readonly initializers: Initializer[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name with a readable prefix. */
  private fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`internal: ONNX value name ${name} used twice`);
    this.names.add(name);
    return name;
  }

  input(name: string, elemType: number, dims: readonly Dim[]): string {
    this.inputs.push({ name: this.claim(name), elemType, dims });
    this.declared.set(name, dims);
    return name;
  }

  /** Mark `value` as a graph output under `name` (an Identity node when the names differ). */
  output(value: string, name: string, elemType: number, dims: readonly Dim[]): void {
    if (value !== name) this.node('Identity', [value], {}, [name]);
    this.outputs.push({ name, elemType, dims });
  }

  /** A float32 initializer; `data` is copied into the model as raw_data. */
  floats(prefix: string, data: Float32Array, dims: readonly number[]): string {
    return this.initializer(
      prefix,
      FLOAT,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
      dims,
      data.length,
    );
  }

  /**
   * An initializer under exactly `name` (raw little-endian bytes of `dataType`), for passes that
   * rebuild a graph keeping its names (onnx/precision.ts).
   */
  namedInitializer(name: string, dataType: number, raw: Uint8Array, dims: readonly number[]): string {
    this.claim(name);
    this.initializers.push({ name, dataType, raw, dims });
    this.declared.set(name, dims);
    return name;
  }

  /** The initializers, graph inputs and outputs as added (for passes that rebuild the graph). */
  initializerList(): readonly Initializer[] {
    return this.initializers;
  }

  inputList(): readonly ValueInfo[] {
    return this.inputs;
  }

  outputList(): readonly ValueInfo[] {
    return this.outputs;
  }

  /** An int64 initializer (shapes, axes, indices). */
  int64s(prefix: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    const name = this.initializer(prefix, INT64, new Uint8Array(data.buffer), dims, values.length);
    this.int64Constants.set(name, [...values]);
    return name;
  }

  private initializer(
    prefix: string,
    dataType: number,
    raw: Uint8Array,
    dims: readonly number[],
    count: number,
  ): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== count)
      throw new Error(`internal: initializer ${prefix} has ${count} values for dims [${dims.join(', ')}]`);
    const name = this.fresh(prefix);
    this.initializers.push({ name, dataType, raw, dims });
    this.declared.set(name, dims);
    return name;
  }

  /** Add a node; returns its output names (fresh ones unless given). */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, Attribute> = {},
    outputs: number | readonly string[] = 1,
  ): string[] {
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
        : outputs.map((o) => this.claim(o));
    const n = new ProtoMessage();
    for (const i of inputs) n.string(1, i);
    for (const o of outs) n.string(2, o);
    n.string(3, `${opType}_${this.nodes.length}`).string(4, opType);
    for (const [key, value] of Object.entries(attributes)) n.message(5, attribute(key, value));
    this.nodes.push(n);
    this.records.push({ opType, inputs: [...inputs], outputs: outs, attributes });
    return outs;
  }

  /** The nodes so far, in the order added (a topological order: a node's inputs exist before it). */
  nodeList(): readonly NodeRecord[] {
    return this.records;
  }

  /** Dimensions of a graph input or initializer (names for symbolic ones); undefined for a node's output. */
  declaredDims(name: string): readonly Dim[] | undefined {
    return this.declared.get(name);
  }

  /** The values of an int64 initializer; undefined for anything else. */
  int64Values(name: string): readonly number[] | undefined {
    return this.int64Constants.get(name);
  }

  /** One-output node. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, Attribute> = {}): string {
    return this.node(opType, inputs, attributes)[0]!;
  }

  /** The ModelProto. Throws when it would exceed protobuf's 2 GB limit. */
  toModel(producer: { name: string; version: string }): ProtoMessage {
    return this.write(producer, null).model;
  }

  /**
   * The ModelProto with its large initializers in an external data file
   * named `dataFile` (a path relative to the model file, as ONNX's
   * external-data convention has it), for models over 2 GB.
   */
  toModelWithExternalData(producer: { name: string; version: string }, dataFile: string): WrittenModel {
    return this.write(producer, dataFile);
  }

  private write(producer: { name: string; version: string }, dataFile: string | null): WrittenModel {
    const g = new ProtoMessage();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, this.name);
    const data: Uint8Array[] = [];
    let offset = 0;
    for (const init of this.initializers) {
      const t = new ProtoMessage();
      for (const d of init.dims) t.int(1, d); // dims (unpacked is valid too; packed saves nothing for a few dims)
      t.int(2, init.dataType).string(8, init.name);
      if (dataFile !== null && init.raw.byteLength >= EXTERNAL_MIN_BYTES) {
        // TensorProto.external_data (13): location, offset, length; data_location (14) = EXTERNAL (1).
        const entry = (key: string, value: string) => new ProtoMessage().string(1, key).string(2, value);
        t.message(13, entry('location', dataFile))
          .message(13, entry('offset', String(offset)))
          .message(13, entry('length', String(init.raw.byteLength)));
        t.int(14, 1);
        data.push(init.raw);
        offset += init.raw.byteLength;
      } else {
        // raw_data is little-endian; typed arrays are in the machine's order, little-endian on every platform Node
        // ships for.
        t.bytes(9, init.raw);
      }
      g.message(5, t);
    }
    for (const v of this.inputs) g.message(11, valueInfo(v));
    for (const v of this.outputs) g.message(12, valueInfo(v));
    const opset = new ProtoMessage().string(1, '').int(2, OPSET);
    const model = new ProtoMessage()
      .int(1, IR_VERSION)
      .string(2, producer.name)
      .string(3, producer.version)
      .message(7, g)
      .message(8, opset);
    if (model.byteLength > MAX_MODEL_BYTES) {
      throw new ModelTooLarge(
        `the ONNX model would be ${(model.byteLength / 2 ** 30).toFixed(2)} GiB; one ONNX file holds at most 2 GiB, so its weights must go to an external data file`,
      );
    }
    return { model, data };
  }
}

export class ModelTooLarge extends Error {}

function attribute(name: string, value: Attribute): ProtoMessage {
  const a = new ProtoMessage().string(1, name);
  // AttributeProto: f=2, i=3, s=4, ints=8, type=20 (FLOAT 1, INT 2, STRING 3, INTS 7).
  if ('int' in value) return a.int(3, value.int).int(20, 2);
  if ('float' in value) return a.float(2, value.float).int(20, 1);
  if ('string' in value) return a.string(4, value.string).int(20, 3);
  for (const v of value.ints) a.int(8, v);
  return a.int(20, 7);
}

function valueInfo(v: ValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.dims)
    shape.message(1, typeof d === 'number' ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  const tensor = new ProtoMessage().int(1, v.elemType).message(2, shape);
  const type = new ProtoMessage().message(1, tensor);
  return new ProtoMessage().string(1, v.name).message(2, type);
}
