/**
 * Vector-Jacobian products of the ONNX ops the model's graph uses: given a
 * node and the gradients of its outputs, emit the nodes that compute the
 * gradients of its inputs. Reverse-mode differentiation (autodiff.ts) runs
 * these rules over a forward graph, so the backward pass is derived from the
 * one description of the model's maths (dinov2Graph.ts) instead of written a
 * second time.
 *
 * Broadcasting: an input that was broadcast gets its gradient summed over
 * the broadcast axes (`reduceTo`). Where the inferred shapes (shapes.ts)
 * decide those axes they are fixed when the graph is built (none at all for
 * two values of one shape); otherwise the shapes are compared at run time.
 */
import { FLOAT, type Attribute, type GraphBuilder, type NodeRecord, attrInt, attrInts } from './graph';
import { normAxis, type InferredShape } from './shapes';

export interface VjpContext {
  g: GraphBuilder;
  /** Rank of a forward value (throws when it is unknown). */
  rank(name: string): number;
  /** Inferred shape of a forward value (throws when even its rank is unknown). */
  shape(name: string): InferredShape;
}

/**
 * A rule: gradients of the node's inputs (null for those not needed or not
 * differentiable) from the gradients of its outputs (null for outputs the
 * result does not depend on; at least one is set).
 */
type Rule = (
  ctx: VjpContext,
  node: NodeRecord,
  dys: ReadonlyArray<string | null>,
  needs: readonly boolean[],
) => Array<string | null>;

function zeros(n: number): number[] {
  return new Array<number>(n).fill(0);
}

/** Transpose's perm that swaps the last two axes. */
function swapLast(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

function scalar(g: GraphBuilder, prefix: string, v: number): string {
  return g.floats(prefix, Float32Array.of(v), []);
}

/** The size of one axis of `x` as an int64 [1] (Shape with start/end, opset 15). */
function dimOf(g: GraphBuilder, x: string, axis: number): string {
  return g.op('Shape', [x], { start: { int: axis }, end: { int: axis + 1 } });
}

/** The axes of a broadcast result (shape `out`) that an input of shape `like` was spread over; null if unknown. */
function broadcastAxes(out: InferredShape, like: InferredShape): number[] | null {
  const lead = out.length - like.length;
  const axes = Array.from({ length: lead }, (_, i) => i);
  for (let i = lead; i < out.length; i++) {
    const l = like[i - lead]!;
    const o = out[i]!;
    if (l === 1) {
      if (o !== 1) axes.push(i);
    } else if (typeof l === 'number' || l === o) {
      // A size other than 1 is the result's size, and equal names are equal sizes: not spread.
    } else if (!(l === null && o === 1)) return null;
  }
  return axes;
}

/**
 * `grad` (the broadcast result's gradient, shape `out`) summed down to the
 * shape of `like`, which was broadcast to produce it.
 */
export function reduceTo(ctx: VjpContext, grad: string, out: InferredShape, like: string): string {
  const { g } = ctx;
  const gradRank = out.length;
  const likeRank = ctx.rank(like);
  const spread = broadcastAxes(out, ctx.shape(like));
  if (spread) {
    const lead = gradRank - likeRank;
    const inner = spread.filter((a) => a >= lead);
    const kept = inner.length ? g.op('ReduceSum', [grad, g.int64s('axes', inner)], { keepdims: { int: 1 } }) : grad;
    if (lead === 0) return kept;
    const leading = Array.from({ length: lead }, (_, i) => i);
    return g.op('ReduceSum', [kept, g.int64s('axes', leading)], { keepdims: { int: 0 } });
  }
  // Dynamic: compare the shapes when the graph runs.
  const gradShape = g.op('Shape', [grad]);
  const likeShape = g.op('Shape', [like]);
  const padded =
    likeRank < gradRank
      ? g.op('Concat', [g.int64s('ones', new Array<number>(gradRank - likeRank).fill(1)), likeShape], {
          axis: { int: 0 },
        })
      : likeShape;
  const differ = g.op('Not', [g.op('Equal', [padded, gradShape])]);
  const axes = g.op('Reshape', [g.op('NonZero', [differ]), g.int64s('flat', [-1])]);
  const summed = g.op('ReduceSum', [grad, axes], { keepdims: { int: 1 }, noop_with_empty_axes: { int: 1 } });
  return g.op('Reshape', [summed, likeShape]);
}

/**
 * Pads of `before` and `after` on one axis: the int64 [2 * rank] input of Pad. `after` is a number when the
 * shapes decide it (one constant: no shape arithmetic at run time, which ONNX Runtime would run on the CPU and
 * copy to a GPU), else a run-time int64 [1].
 */
function padsOnAxis(g: GraphBuilder, rank: number, axis: number, before: number, after: string | number): string {
  if (typeof after === 'number')
    return g.int64s('pads', [
      ...zeros(axis),
      before,
      ...zeros(rank - axis - 1),
      ...zeros(axis),
      after,
      ...zeros(rank - axis - 1),
    ]);
  return g.op(
    'Concat',
    [
      g.int64s('pads', [...zeros(axis), before, ...zeros(rank - axis - 1), ...zeros(axis)]),
      after,
      ...(rank - axis - 1 > 0 ? [g.int64s('pads', zeros(rank - axis - 1))] : []),
    ],
    { axis: { int: 0 } },
  );
}

/** A reduction's output gradient `dy` spread back over the reduced `axes` to the input's shape. */
function spreadOver(ctx: VjpContext, node: NodeRecord, dy: string, axes: readonly number[]): string {
  const { g } = ctx;
  const x = node.inputs[0]!;
  const rank = ctx.rank(x);
  const kept =
    attrInt(node, 'keepdims', 1) === 1
      ? dy
      : g.op('Unsqueeze', [
          dy,
          g.int64s(
            'axes',
            axes.map((a) => normAxis(a, rank)),
          ),
        ]);
  return g.op('Expand', [kept, g.op('Shape', [x])]);
}

const elementwise = (f: (ctx: VjpContext, node: NodeRecord, dy: string) => string): Rule => {
  return (ctx, node, dys) => [f(ctx, node, dys[0]!)];
};

const RULES: Record<string, Rule> = {
  Identity: (_ctx, _node, dys) => [dys[0]!],

  Add: (ctx, node, dys, needs) => {
    const ry = ctx.shape(node.outputs[0]!);
    return node.inputs.map((x, i) => (needs[i] ? reduceTo(ctx, dys[0]!, ry, x) : null));
  },

  Sub: (ctx, node, dys, needs) => {
    const ry = ctx.shape(node.outputs[0]!);
    const [a, b] = node.inputs as [string, string];
    return [
      needs[0] ? reduceTo(ctx, dys[0]!, ry, a) : null,
      needs[1] ? reduceTo(ctx, ctx.g.op('Neg', [dys[0]!]), ry, b) : null,
    ];
  },

  Mul: (ctx, node, dys, needs) => {
    const ry = ctx.shape(node.outputs[0]!);
    const [a, b] = node.inputs as [string, string];
    const dy = dys[0]!;
    return [
      needs[0] ? reduceTo(ctx, ctx.g.op('Mul', [dy, b]), ry, a) : null,
      needs[1] ? reduceTo(ctx, ctx.g.op('Mul', [dy, a]), ry, b) : null,
    ];
  },

  Div: (ctx, node, dys, needs) => {
    const { g } = ctx;
    const ry = ctx.shape(node.outputs[0]!);
    const [a, b] = node.inputs as [string, string];
    const dy = dys[0]!;
    return [
      needs[0] ? reduceTo(ctx, g.op('Div', [dy, b]), ry, a) : null,
      // d(a / b)/db = -(a / b) / b = -y / b.
      needs[1] ? reduceTo(ctx, g.op('Neg', [g.op('Div', [g.op('Mul', [dy, node.outputs[0]!]), b])]), ry, b) : null,
    ];
  },

  // d erf(x)/dx = 2/√π · exp(-x²).
  Erf: elementwise((ctx, node, dy) => {
    const { g } = ctx;
    const x = node.inputs[0]!;
    const slope = g.op('Mul', [
      g.op('Exp', [g.op('Neg', [g.op('Mul', [x, x])])]),
      scalar(g, 'two_over_sqrt_pi', 2 / Math.sqrt(Math.PI)),
    ]);
    return g.op('Mul', [dy, slope]);
  }),

  // σ' = σ (1 - σ).
  Sigmoid: elementwise((ctx, node, dy) => {
    const { g } = ctx;
    const y = node.outputs[0]!;
    return g.op('Mul', [dy, g.op('Mul', [y, g.op('Sub', [scalar(g, 'one', 1), y])])]);
  }),

  Neg: elementwise((ctx, _node, dy) => ctx.g.op('Neg', [dy])),

  // d√x/dx = 1 / (2√x) = 0.5 / y.
  Sqrt: elementwise((ctx, node, dy) => {
    const { g } = ctx;
    return g.op('Div', [g.op('Mul', [dy, scalar(g, 'half', 0.5)]), node.outputs[0]!]);
  }),

  // d(1/x)/dx = -1/x² = -y².
  Reciprocal: elementwise((ctx, node, dy) => {
    const { g } = ctx;
    const y = node.outputs[0]!;
    return g.op('Neg', [g.op('Mul', [dy, g.op('Mul', [y, y])])]);
  }),

  // The gradient goes to the larger input; on a tie, to the first (as TF.js's maximum does).
  Max: (ctx, node, dys, needs) => {
    const { g } = ctx;
    if (node.inputs.length !== 2) throw new Error('internal: autodiff supports Max of two inputs only');
    const [a, b] = node.inputs as [string, string];
    const ry = ctx.shape(node.outputs[0]!);
    const dy = dys[0]!;
    const first = g.op('Cast', [g.op('GreaterOrEqual', [a, b])], { to: { int: FLOAT } });
    return [
      needs[0] ? reduceTo(ctx, g.op('Mul', [dy, first]), ry, a) : null,
      needs[1] ? reduceTo(ctx, g.op('Mul', [dy, g.op('Sub', [scalar(g, 'one', 1), first])]), ry, b) : null,
    ];
  },

  // y = x - log Σ exp x along the axis: dx = dy - softmax(x) Σ dy = dy - exp(y) Σ dy.
  LogSoftmax: (ctx, node, dys) => {
    const { g } = ctx;
    const dy = dys[0]!;
    const axis = attrInt(node, 'axis', -1);
    const total = g.op('ReduceSum', [dy, g.int64s('axes', [axis])], { keepdims: { int: 1 } });
    return [g.op('Sub', [dy, g.op('Mul', [g.op('Exp', [node.outputs[0]!]), total])])];
  },

  // dx = y ⊙ (dy - Σ dy ⊙ y) along the softmax axis.
  Softmax: (ctx, node, dys) => {
    const { g } = ctx;
    const y = node.outputs[0]!;
    const dy = dys[0]!;
    const axis = attrInt(node, 'axis', -1);
    const dot = g.op('ReduceSum', [g.op('Mul', [dy, y]), g.int64s('axes', [axis])], { keepdims: { int: 1 } });
    return [g.op('Mul', [y, g.op('Sub', [dy, dot])])];
  },

  /**
   * y = x̂ γ + β, x̂ = (x - μ) / √(σ² + ε) over the last axis. The statistics
   * are recomputed from x; with g = dy γ:
   *   dx = (g - mean(g) - x̂ mean(g x̂)) / √(σ² + ε),  dγ = Σ dy x̂,  dβ = Σ dy.
   */
  LayerNormalization: (ctx, node, dys, needs) => {
    const { g } = ctx;
    const [x, gamma, beta] = node.inputs as [string, string, string | undefined];
    const dy = dys[0]!;
    const rx = ctx.rank(x);
    if (normAxis(attrInt(node, 'axis', -1), rx) !== rx - 1)
      throw new Error('internal: autodiff supports LayerNormalization over the last axis only');
    const eps = node.attributes.epsilon;
    const epsilon = eps && 'float' in eps ? eps.float : 1e-5;
    const last: Record<string, Attribute> = { axes: { ints: [-1] }, keepdims: { int: 1 } };
    const centred = g.op('Sub', [x, g.op('ReduceMean', [x], last)]);
    const variance = g.op('ReduceMean', [g.op('Mul', [centred, centred])], last);
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, scalar(g, 'eps', epsilon)])])]);
    const xhat = g.op('Mul', [centred, inv]);
    let dx: string | null = null;
    if (needs[0]) {
      const gx = g.op('Mul', [dy, gamma]);
      const meanG = g.op('ReduceMean', [gx], last);
      const meanGx = g.op('ReduceMean', [g.op('Mul', [gx, xhat])], last);
      dx = g.op('Mul', [g.op('Sub', [g.op('Sub', [gx, meanG]), g.op('Mul', [xhat, meanGx])]), inv]);
    }
    return [
      dx,
      needs[1] ? reduceTo(ctx, g.op('Mul', [dy, xhat]), ctx.shape(x), gamma) : null,
      beta !== undefined && needs[2] ? reduceTo(ctx, dy, ctx.shape(x), beta) : null,
    ];
  },

  MatMul: (ctx, node, dys, needs) => {
    const { g } = ctx;
    const [a, b] = node.inputs as [string, string];
    const dy = dys[0]!;
    const ra = ctx.rank(a);
    const rb = ctx.rank(b);
    const ys = ctx.shape(node.outputs[0]!);
    const ry = ys.length;
    let da: string | null = null;
    let db: string | null = null;
    if (needs[0]) {
      const prod = g.op('MatMul', [dy, g.op('Transpose', [b], { perm: { ints: swapLast(rb) } })]);
      da = ra < ry ? reduceTo(ctx, prod, ys, a) : prod;
    }
    if (needs[1]) {
      if (rb === 2) {
        // A weight: one product over every row of the batch, aᵀ dy with the leading axes flattened.
        const a2 = ra === 2 ? a : g.op('Flatten', [a], { axis: { int: ra - 1 } });
        const dy2 = ry === 2 ? dy : g.op('Flatten', [dy], { axis: { int: ry - 1 } });
        db = g.op('Gemm', [a2, dy2], { transA: { int: 1 } });
      } else {
        const prod = g.op('MatMul', [g.op('Transpose', [a], { perm: { ints: swapLast(ra) } }), dy]);
        db = rb < ry ? reduceTo(ctx, prod, ys, b) : prod;
      }
    }
    return [da, db];
  },

  Reshape: (ctx, node, dys) => [ctx.g.op('Reshape', [dys[0]!, ctx.g.op('Shape', [node.inputs[0]!])]), null],

  Transpose: (ctx, node, dys) => {
    const perm = attrInts(node, 'perm');
    if (!perm) throw new Error('internal: autodiff needs Transpose with an explicit perm');
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [ctx.g.op('Transpose', [dys[0]!], { perm: { ints: inverse } })];
  },

  Concat: (ctx, node, dys, needs) => {
    const { g } = ctx;
    const rank = ctx.rank(node.outputs[0]!);
    const axis = normAxis(attrInt(node, 'axis', 0), rank);
    const sizes = g.op(
      'Concat',
      node.inputs.map((x) => dimOf(g, x, axis)),
      { axis: { int: 0 } },
    );
    const parts = g.node('Split', [dys[0]!, sizes], { axis: { int: axis } }, node.inputs.length);
    return parts.map((p, i) => (needs[i] ? p : null));
  },

  Split: (ctx, node, dys) => {
    const { g } = ctx;
    const rank = ctx.rank(node.inputs[0]!);
    const axis = normAxis(attrInt(node, 'axis', 0), rank);
    const parts = node.outputs.map((y, i) => dys[i] ?? g.op('ConstantOfShape', [g.op('Shape', [y])]));
    return [g.op('Concat', parts, { axis: { int: axis } }), null];
  },

  Slice: (ctx, node, dys) => {
    const { g } = ctx;
    const [x, starts, , axes, steps] = node.inputs as [string, string, string, string | undefined, string | undefined];
    const rank = ctx.rank(x);
    const start = g.int64Values(starts);
    const axis = axes ? g.int64Values(axes) : [0];
    if (!start || !axis || start.length !== 1 || axis.length !== 1 || steps !== undefined || start[0]! < 0)
      throw new Error('internal: autodiff supports Slice on one axis with a constant non-negative start only');
    const ax = normAxis(axis[0]!, rank);
    const dy = dys[0]!;
    // Zeros before the slice (its start) and after it (what is left of the axis).
    const size = ctx.shape(x)[ax];
    const sliced = ctx.shape(node.outputs[0]!)[ax];
    const after =
      typeof size === 'number' && typeof sliced === 'number'
        ? size - start[0]! - sliced
        : g.op('Sub', [g.op('Sub', [dimOf(g, x, ax), g.int64s('start', [start[0]!])]), dimOf(g, dy, ax)]);
    return [g.op('Pad', [dy, padsOnAxis(g, rank, ax, start[0]!, after)])];
  },

  Gather: (ctx, node, dys) => {
    const { g } = ctx;
    const [x, indices] = node.inputs as [string, string];
    const index = g.int64Values(indices);
    if (!index || index.length !== 1 || ctx.rank(indices) !== 0 || index[0]! < 0)
      throw new Error('internal: autodiff supports Gather of one constant non-negative index only');
    const rank = ctx.rank(x);
    const ax = normAxis(attrInt(node, 'axis', 0), rank);
    const row = g.op('Unsqueeze', [dys[0]!, g.int64s('axes', [ax])]);
    const size = ctx.shape(x)[ax];
    const after =
      typeof size === 'number'
        ? size - index[0]! - 1
        : g.op('Sub', [dimOf(g, x, ax), g.int64s('next', [index[0]! + 1])]);
    return [g.op('Pad', [row, padsOnAxis(g, rank, ax, index[0]!, after)]), null];
  },

  ReduceMean: (ctx, node, dys) => {
    const { g } = ctx;
    const x = node.inputs[0]!;
    const rank = ctx.rank(x);
    const axes = attrInts(node, 'axes');
    if (!axes) throw new Error('internal: autodiff needs ReduceMean with explicit axes');
    const dy = dys[0]!;
    const spread = spreadOver(ctx, node, dy, axes);
    // Each input element gets 1 / (elements averaged) of its mean's gradient: a constant when the reduced axes'
    // sizes are known (else counted at run time, by shape arithmetic that ONNX Runtime keeps on the CPU).
    const reduced = axes.map((a) => ctx.shape(x)[normAxis(a, rank)]);
    if (reduced.every((d): d is number => typeof d === 'number'))
      return [g.op('Mul', [spread, scalar(g, 'mean_scale', 1 / reduced.reduce((a, b) => a * b, 1))])];
    const count = g.op('Div', [
      g.op('Cast', [g.op('Size', [dy])], { to: { int: FLOAT } }),
      g.op('Cast', [g.op('Size', [x])], { to: { int: FLOAT } }),
    ]);
    return [g.op('Mul', [spread, count])];
  },

  // Each input element gets its sum's gradient (axes from the `axes` input, as opset 13 has them).
  ReduceSum: (ctx, node, dys) => {
    const axes = node.inputs[1] ? ctx.g.int64Values(node.inputs[1]) : undefined;
    if (!axes || axes.length === 0) throw new Error('internal: autodiff needs ReduceSum with constant axes');
    return [spreadOver(ctx, node, dys[0]!, axes), null];
  },

  Expand: (ctx, node, dys) => [reduceTo(ctx, dys[0]!, ctx.shape(node.outputs[0]!), node.inputs[0]!), null],
};

/** Ops whose outputs carry no gradient (shape arithmetic). */
export const NON_DIFFERENTIABLE = new Set([
  'Shape',
  'Size',
  'ConstantOfShape',
  'NonZero',
  'Equal',
  'GreaterOrEqual',
  'Not',
  'Cast',
]);

export function vjpRule(opType: string): Rule {
  const rule = RULES[opType];
  if (!rule) throw new Error(`internal: autodiff has no gradient rule for ONNX op ${opType}`);
  return rule;
}
