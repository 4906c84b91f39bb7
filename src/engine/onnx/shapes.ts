/**
 * Shapes of a graph's float values, inferred from its inputs' and
 * initializers' declared dimensions node by node: the vector-Jacobian rules
 * (vjp.ts) need ranks to transpose the last two axes of a product or to lay
 * out a Pad, and sizes to know when the graph is built whether a broadcast
 * input's gradient must be summed (most element-wise ops of the model
 * combine values of one shape: their gradients pass through as they are,
 * with no reduction to decide when the graph runs).
 *
 * A size is a number, a symbolic name shared by equal sizes (the batch), or
 * null where it does not follow from the declared ones.
 */
import { type Dim, type GraphBuilder, type NodeRecord, attrInt, attrInts } from './graph';

export type InferredShape = ReadonlyArray<Dim | null>;

/** An ONNX axis attribute (negative: from the end) as an index into a shape of `rank`. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** The shape of a broadcast result (ONNX's multidirectional broadcasting). */
export function broadcastShape(a: InferredShape, b: InferredShape): InferredShape {
  const rank = Math.max(a.length, b.length);
  const out: Array<Dim | null> = [];
  for (let i = 0; i < rank; i++) {
    const x = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)]! : 1;
    const y = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)]! : 1;
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    // A number other than 1 is the result's size (the other side is 1 or equal to it).
    else if (typeof x === 'number') out.push(x);
    else if (typeof y === 'number') out.push(y);
    else out.push(null);
  }
  return out;
}

/** Reshape's result: 0 copies the input's size, -1 takes what is left when that follows. */
function reshape(input: InferredShape, target: readonly number[]): InferredShape {
  const out: Array<Dim | null> = target.map((d, i) => (d === 0 ? (input[i] ?? null) : d === -1 ? null : d));
  const free = target.indexOf(-1);
  if (free < 0) return out;
  // Sizes left when the input's and the other output sizes are divided out: numbers by division,
  // names by cancelling equal ones; anything unknown leaves -1 unknown.
  let ratio = 1;
  const names: string[] = [];
  for (const d of input) {
    if (d === null) return out;
    if (typeof d === 'number') ratio *= d;
    else names.push(d);
  }
  for (const [i, d] of out.entries()) {
    if (i === free) continue;
    if (d === null) return out;
    if (typeof d === 'number') ratio /= d;
    else {
      const k = names.indexOf(d);
      if (k < 0) return out;
      names.splice(k, 1);
    }
  }
  if (names.length === 0 && Number.isInteger(ratio)) out[free] = ratio;
  else if (names.length === 1 && ratio === 1) out[free] = names[0]!;
  return out;
}

/** Output shapes of one node, given its inputs' shapes (undefined where unknown). */
function outputShapes(
  g: GraphBuilder,
  node: NodeRecord,
  shape: (name: string) => InferredShape | undefined,
): InferredShape[] | null {
  const s = (i: number) => (node.inputs[i] ? shape(node.inputs[i]!) : undefined);
  const first = s(0);
  if (first === undefined) return null;
  const rank = first.length;
  const ints = (i: number) => (node.inputs[i] ? g.int64Values(node.inputs[i]!) : undefined);
  switch (node.opType) {
    case 'Identity':
    case 'Erf':
    case 'Sigmoid':
    case 'Softmax':
    case 'LogSoftmax':
    case 'Neg':
    case 'Exp':
    case 'Sqrt':
    case 'Reciprocal':
    case 'LayerNormalization':
      return [first];
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Max': {
      const b = s(1);
      return b ? [broadcastShape(first, b)] : null;
    }
    case 'MatMul': {
      const b = s(1);
      if (!b || rank < 2 || b.length < 2) return null;
      const lead = broadcastShape(first.slice(0, -2), b.slice(0, -2));
      return [[...lead, first[rank - 2]!, b[b.length - 1]!]];
    }
    case 'Transpose': {
      const perm = attrInts(node, 'perm') ?? first.map((_, i) => rank - 1 - i);
      return [perm.map((p) => first[p]!)];
    }
    case 'Reshape': {
      const target = ints(1);
      return target ? [reshape(first, target)] : null;
    }
    case 'Concat': {
      const axis = normAxis(attrInt(node, 'axis', 0), rank);
      const parts = node.inputs.map((_, i) => s(i));
      let size: number | null = 0;
      for (const p of parts) {
        const d = p?.[axis];
        size = size !== null && typeof d === 'number' ? size + d : null;
      }
      return [first.map((d, i) => (i === axis ? size : d))];
    }
    case 'Split': {
      const axis = normAxis(attrInt(node, 'axis', 0), rank);
      const sizes = ints(1);
      return node.outputs.map((_, k) => first.map((d, i) => (i === axis ? (sizes?.[k] ?? null) : d)));
    }
    case 'Slice': {
      const [starts, ends, axes] = [ints(1), ints(2), node.inputs[3] ? ints(3) : [0]];
      const out: Array<Dim | null> = [...first];
      if (!starts || !ends || !axes || node.inputs[4]) return [first.map(() => null)];
      axes.forEach((a, k) => {
        const ax = normAxis(a, rank);
        const size = first[ax];
        if (typeof size !== 'number') {
          out[ax] = null;
          return;
        }
        const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + size : v, 0), size);
        out[ax] = Math.max(0, clamp(ends[k]!) - clamp(starts[k]!));
      });
      return [out];
    }
    case 'Gather': {
      const idx = s(1);
      if (!idx) return null;
      const axis = normAxis(attrInt(node, 'axis', 0), rank);
      return [[...first.slice(0, axis), ...idx, ...first.slice(axis + 1)]];
    }
    case 'ReduceMean':
    case 'ReduceSum': {
      const axes = (attrInts(node, 'axes') ?? ints(1))?.map((a) => normAxis(a, rank));
      if (!axes) return null;
      const keep = attrInt(node, 'keepdims', 1) === 1;
      return [first.flatMap((d, i) => (!axes.includes(i) ? [d] : keep ? [1] : []))];
    }
    case 'Conv':
    case 'Expand':
      // Sizes from run-time values: the rank only.
      return node.outputs.map(() => first.map(() => null));
    default:
      return null;
  }
}

/** The shape of every value whose shape (or at least rank) follows from the declared ones. */
export function inferShapes(g: GraphBuilder): Map<string, InferredShape> {
  const shapes = new Map<string, InferredShape>();
  const shape = (name: string) => shapes.get(name) ?? g.declaredDims(name);
  for (const node of g.nodeList()) {
    const out = outputShapes(g, node, shape);
    if (out) node.outputs.forEach((o, i) => shapes.set(o, out[i]!));
  }
  return shapes;
}
