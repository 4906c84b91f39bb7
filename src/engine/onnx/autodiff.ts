/**
 * Reverse-mode differentiation of a graph under construction: appends to a
 * GraphBuilder the nodes that compute d⟨output, seed⟩/d(wrt) for a seed
 * (the upstream gradient, e.g. the gradient cache's dLoss/dEmbedding) by
 * walking the forward nodes backwards and applying each op's
 * vector-Jacobian rule (vjp.ts).
 *
 * Only what is needed is emitted: a node's rule runs when one of its inputs
 * depends on a `wrt` value and one of its outputs reaches `output`, and an
 * input's gradient is built only when that input depends on a `wrt` value
 * (so frozen weights and the pixels get none).
 */
import type { GraphBuilder } from './graph';
import { inferShapes } from './shapes';
import { NON_DIFFERENTIABLE, vjpRule, type VjpContext } from './vjp';

/**
 * Gradient value names by `wrt` name. A `wrt` value that `output` does not
 * depend on has no entry.
 */
export function appendGradients(
  g: GraphBuilder,
  output: string,
  seed: string,
  wrt: readonly string[],
): Map<string, string> {
  const forward = [...g.nodeList()];
  const shapes = inferShapes(g);
  const shape = (name: string) => {
    const s = shapes.get(name) ?? g.declaredDims(name);
    if (s === undefined) throw new Error(`internal: autodiff does not know the rank of ${name}`);
    return s;
  };
  const ctx: VjpContext = { g, shape, rank: (name) => shape(name).length };

  // Values that depend on a wrt value.
  const varies = new Set(wrt);
  for (const node of forward) {
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    if (node.inputs.some((i) => varies.has(i))) for (const o of node.outputs) varies.add(o);
  }

  // Gradient contributions per value, summed when read.
  const contributions = new Map<string, string[]>();
  const add = (name: string, grad: string) => {
    const list = contributions.get(name);
    if (list) list.push(grad);
    else contributions.set(name, [grad]);
  };
  const total = (name: string): string | null => {
    const list = contributions.get(name);
    if (!list || list.length === 0) return null;
    if (list.length === 1) return list[0]!;
    // A chain of Adds, not one Sum: ONNX Runtime's WebGPU provider has no Sum kernel, and a Sum left on the CPU
    // would copy every contribution off the device and back (test/engine/onnx/webgpu-placement.test.ts).
    const sum = list.slice(1).reduce((acc, grad) => g.op('Add', [acc, grad]), list[0]!);
    contributions.set(name, [sum]);
    return sum;
  };
  add(output, seed);

  for (let k = forward.length - 1; k >= 0; k--) {
    const node = forward[k]!;
    if (NON_DIFFERENTIABLE.has(node.opType)) continue;
    const needs = node.inputs.map((i) => varies.has(i));
    if (!needs.some(Boolean)) continue;
    const dys = node.outputs.map(total);
    if (dys.every((d) => d === null)) continue;
    const dxs = vjpRule(node.opType)(ctx, node, dys, needs);
    dxs.forEach((dx, i) => {
      if (dx !== null && needs[i]) add(node.inputs[i]!, dx);
    });
  }

  const out = new Map<string, string>();
  for (const name of wrt) {
    const grad = total(name);
    if (grad !== null) out.set(name, grad);
  }
  return out;
}
