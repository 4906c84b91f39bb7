/**
 * Reading the structure of an ONNX model: its nodes (name, op, inputs,
 * outputs), the element type of its initializers and its graph inputs and
 * outputs. Only what the placement report (placement.ts) needs to tell a
 * node that computes on tensor data from one that does shape arithmetic,
 * read from the model ONNX Runtime wrote after optimising it for a provider
 * (fused and inserted nodes included). Weights' values are skipped.
 *
 * The counterpart of protobuf.ts (which writes): the same wire format,
 * field numbers from onnx/onnx.proto.
 */

export interface ModelNode {
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
}

export interface ModelStructure {
  nodes: ModelNode[];
  /** Initializer name -> TensorProto.DataType (1 float, 7 int64, ...). */
  initializers: Map<string, number>;
  inputs: string[];
  outputs: string[];
}

type Field = { field: number; wire: number; value: bigint | Uint8Array };

/** The fields of one message, in order (varints as bigint, length-delimited as bytes; fixed ones skipped). */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= buf.length) throw new Error('truncated ONNX model (varint)');
      const b = buf[at++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) out.push({ field, wire, value: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (at + len > buf.length) throw new Error('truncated ONNX model (bytes)');
      out.push({ field, wire, value: buf.subarray(at, at + len) });
      at += len;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else throw new Error(`unsupported protobuf wire type ${wire} in an ONNX model`);
  }
  return out;
}

const text = (v: bigint | Uint8Array): string => new TextDecoder().decode(v as Uint8Array);

function bytesOf(msg: Uint8Array, field: number): Uint8Array[] {
  return fields(msg)
    .filter((f) => f.field === field && f.wire === 2)
    .map((f) => f.value as Uint8Array);
}

function stringOf(msg: Uint8Array, field: number): string {
  const f = bytesOf(msg, field)[0];
  return f ? text(f) : '';
}

/** The main graph's structure (ModelProto.graph = 7). */
export function readModelStructure(model: Uint8Array): ModelStructure {
  const graph = bytesOf(model, 7)[0];
  if (!graph) throw new Error('the ONNX model has no graph');
  const structure: ModelStructure = { nodes: [], initializers: new Map(), inputs: [], outputs: [] };
  for (const f of fields(graph)) {
    if (f.wire !== 2) continue;
    const msg = f.value as Uint8Array;
    if (f.field === 1) {
      // NodeProto: input 1, output 2, name 3, op_type 4.
      structure.nodes.push({
        inputs: bytesOf(msg, 1).map(text),
        outputs: bytesOf(msg, 2).map(text),
        name: stringOf(msg, 3),
        opType: stringOf(msg, 4),
      });
    } else if (f.field === 5) {
      // TensorProto: data_type 2, name 8.
      const type = fields(msg).find((x) => x.field === 2 && x.wire === 0);
      structure.initializers.set(stringOf(msg, 8), type ? Number(type.value) : 0);
    } else if (f.field === 11) structure.inputs.push(stringOf(msg, 1));
    else if (f.field === 12) structure.outputs.push(stringOf(msg, 1));
  }
  return structure;
}
