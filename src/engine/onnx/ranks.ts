/**
 * Ranks of a graph's float values, inferred from its inputs' and
 * initializers' declared ranks node by node: the vector-Jacobian rules
 * (vjp.ts) need them to transpose the last two axes of a product or to lay
 * out a Pad. Sizes are not inferred: the batch is dynamic, and the rules
 * read sizes at run time with Shape where they need them.
 */
import { type GraphBuilder, type NodeRecord, attrInt, attrInts } from './graph';

/** Output ranks of one node, given the ranks of its inputs (undefined where unknown). */
function outputRanks(g: GraphBuilder, node: NodeRecord, rank: (name: string) => number | undefined): number[] | null {
  const r = (i: number) => rank(node.inputs[i]!);
  const first = r(0);
  switch (node.opType) {
    case 'Identity':
    case 'Erf':
    case 'Sigmoid':
    case 'Softmax':
    case 'Transpose':
    case 'Concat':
    case 'Slice':
    case 'Neg':
    case 'Exp':
    case 'Sqrt':
    case 'Reciprocal':
    case 'Conv':
    case 'Expand':
      return first === undefined ? null : node.outputs.map(() => first);
    case 'LayerNormalization':
      return first === undefined ? null : [first];
    case 'Split':
      return first === undefined ? null : node.outputs.map(() => first);
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'MatMul': {
      const a = first;
      const b = r(1);
      return a === undefined || b === undefined ? null : [Math.max(a, b)];
    }
    case 'Reshape': {
      const shape = g.int64Values(node.inputs[1]!);
      return shape ? [shape.length] : null;
    }
    case 'Gather': {
      const idx = r(1);
      return first === undefined || idx === undefined ? null : [first - 1 + idx];
    }
    case 'ReduceMean':
    case 'ReduceSum': {
      if (first === undefined) return null;
      if (attrInt(node, 'keepdims', 1) === 1) return [first];
      const axes = attrInts(node, 'axes') ?? (node.inputs[1] ? g.int64Values(node.inputs[1]) : undefined);
      return axes ? [first - axes.length] : null;
    }
    default:
      return null;
  }
}

/** The rank of every value whose rank follows from the declared ones. */
export function inferRanks(g: GraphBuilder): Map<string, number> {
  const ranks = new Map<string, number>();
  const rank = (name: string) => ranks.get(name) ?? g.declaredRank(name);
  for (const node of g.nodeList()) {
    const out = outputRanks(g, node, rank);
    if (out) node.outputs.forEach((o, i) => ranks.set(o, out[i]!));
  }
  return ranks;
}
