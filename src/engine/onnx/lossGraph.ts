/**
 * The batch's InfoNCE loss as ONNX nodes appended to a graph that embeds
 * both sides of the batch in one pass (queries' rows first, then their
 * positives'): the maths of train/loss/infonce.ts, so that the whole
 * training step of a small model (embed, loss, gradients) is one graph and
 * one session run (onnx/trainGraph.ts, wholeStepGraph).
 *
 *   q, p   = the two halves of the embedding rows            [n, E] each
 *   q̂, p̂   = rows divided by max(|row|, 1e-12)              (l2NormalizeRows)
 *   logits = q̂ p̂ᵀ · scale                                    [n, n], scale = 1 / temperature
 *   loss   = -Σ_ij W_ij log softmax_j(logits_i)              W: infoNceWeights (labels, 1/n)
 *
 * W and the scale are inputs, so one graph serves every batch's labels and
 * any temperature.
 */
import { NORM_EPS } from '../train/loss';
import { FLOAT, type GraphBuilder } from './graph';

/** Graph input: the loss weights W [n, n] (infoNceWeights), row-major. */
export const LOSS_WEIGHTS_NAME = 'loss_weights';
/** Graph input: the logits' scale, 1 / temperature, a float32 scalar. */
export const LOGIT_SCALE_NAME = 'logit_scale';
/** Graph output: the batch loss, a float32 scalar. */
export const LOSS_NAME = 'loss';
/** The symbolic size of the loss weights' axes: the batch's pairs (half the embedding rows). */
export const PAIRS_DIM = 'pairs';

/** Rows of `x` [m, E] over their L2 norm: x · 1/√max(Σx², eps²), as l2NormalizeRows writes it. */
function normalizeRows(g: GraphBuilder, x: string): string {
  const squared = g.op('ReduceSum', [g.op('Mul', [x, x]), g.int64s('row_axis', [1])], { keepdims: { int: 1 } });
  const floor = g.floats('norm_eps_squared', Float32Array.of(NORM_EPS * NORM_EPS), []);
  return g.op('Mul', [x, g.op('Reciprocal', [g.op('Sqrt', [g.op('Max', [squared, floor])])])]);
}

/**
 * Append the loss of `embedding` [2n, E] (queries then positives) to `g`: declares the inputs
 * LOSS_WEIGHTS_NAME and LOGIT_SCALE_NAME and returns the scalar loss value's name.
 */
export function appendInfoNceLoss(g: GraphBuilder, embedding: string, embeddingDim: number, pairs: string): string {
  const weights = g.input(LOSS_WEIGHTS_NAME, FLOAT, [pairs, pairs]);
  const scale = g.input(LOGIT_SCALE_NAME, FLOAT, []);
  // [2n, E] -> [2, n, E]: the two sides, each one Gather away.
  const sides = g.op('Reshape', [embedding, g.int64s('pair_sides', [2, -1, embeddingDim])]);
  const side = (i: number) => g.op('Gather', [sides, g.int64s('side', [i], [])], { axis: { int: 0 } });
  const queries = normalizeRows(g, side(0));
  const positives = normalizeRows(g, side(1));
  const cosines = g.op('MatMul', [queries, g.op('Transpose', [positives], { perm: { ints: [1, 0] } })]);
  const logProb = g.op('LogSoftmax', [g.op('Mul', [cosines, scale])], { axis: { int: 1 } });
  const total = g.op('ReduceSum', [g.op('Mul', [logProb, weights]), g.int64s('all_axes', [0, 1])], {
    keepdims: { int: 0 },
  });
  return g.op('Neg', [total]);
}
