/**
 * The model's differentiable pieces, each a forward pass with a hand-written
 * backward pass (a `Step`, see autograd.ts), plus stand-alone ops built from
 * them.
 *
 * Why by hand: tfjs' built-in matMul gradient multiplies with
 * transposeA/transposeB, which the wasm backend runs 10-70x slower than a
 * plain matMul (measured: ~30 GFLOP/s plain, 2.3 with transposeB, 0.4 with
 * transposeA). Every matMul here, forward and backward, is plain; operands are
 * transposed explicitly. A frozen weight gets no gradient computed (it would
 * cost as much as the forward matMul).
 */
import { tf, type Tensor, type Tensor2D, type Tensor3D, type Variable } from '../backend/tf';
import { Rng } from '../util/rng';
import { customOp, scopedBackward, stepOp, type ParamGrads, type Saved, type Step } from './autograd';

export interface LoraAdapter {
  /** [in, r] (PEFT's lora_A.weight transposed). */
  a: Variable;
  /** [r, out] (PEFT's lora_B.weight transposed). */
  b: Variable;
  scale: number;
  dropout: number;
  /** Position among the model's adapters: picks this adapter's dropout seed. */
  index: number;
}

export interface Linear {
  /** Module path, e.g. `encoder.layer.0.attention.attention.query`. */
  path: string;
  /** [in, out]: PyTorch's [out, in] transposed, so the forward is a plain matMul. */
  weight: Variable;
  /** [out] */
  bias: Variable | null;
  lora: LoraAdapter | null;
}

export interface Norm {
  weight: Variable;
  bias: Variable;
}

/** What a forward pass needs besides tensors and weights. */
export interface StepContext {
  /** Turns on LoRA dropout. */
  training: boolean;
  /**
   * Recompute the attention probabilities in the backward pass instead of
   * keeping them (n·H·T² floats a layer, the largest thing a layer keeps):
   * less memory for ~4% more time.
   */
  recomputeAttention?: boolean;
  /** Dropout seed of the adapter with the given index (only asked when training). */
  dropoutSeed(adapterIndex: number): number;
}

const INFERENCE: StepContext = { training: false, dropoutSeed: () => 0 };

/** Swap the last two axes. */
export function transposeLast2(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = t.rank;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(t, perm);
}

// ------------------------------------------------------------------ pieces

/**
 * Inverted-dropout mask (kept entries 1/(1-rate), dropped 0) from our Rng:
 * the same on every backend, a few times faster than tfjs' seeded generator
 * (measured), and cheap enough to draw again in the backward pass instead of
 * keeping it.
 */
export function dropoutMask(shape: number[], rate: number, seed: number): Tensor {
  const rng = new Rng(seed);
  const scale = 1 / (1 - rate);
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.next() >= rate ? scale : 0;
  return tf.tensor(values, shape, 'float32');
}

/**
 * xᵀ · dy, [in, out], for x [N, in] and dy [N, out]. XNNPACK repacks the right
 * operand of every product with a new tensor, which costs about as much as a
 * pass over it; packing the narrower of the two (computing (dyᵀ · x)ᵀ when x
 * is narrower) saves ~15% on fc1 (measured).
 */
function weightGradient(x: Tensor2D, dy: Tensor2D): Tensor2D {
  if (x.shape[1] < dy.shape[1]) return tf.transpose(tf.matMul(tf.transpose(dy), x)) as Tensor2D;
  return tf.matMul(tf.transpose(x), dy);
}

/**
 * Linear layer with its LoRA update, if any:
 *   y = x W + b + scale · (dropout(x) A) B,   x [N, in] -> y [N, out].
 * Needs x in the backward pass only when W or A trains: then it keeps x,
 * unless `input` can give x again then (a layer norm's output, recomputed
 * from what the norm keeps anyway). Keeps the [N, r] down-projection only
 * when B trains; the dropout mask is drawn again from its seed.
 */
export function linearStep(
  x: Tensor2D,
  layer: Linear,
  ctx: StepContext,
  saved: Saved,
  grads: ParamGrads,
  input?: () => Tensor2D,
): Step<Tensor2D> {
  const { weight, bias, lora } = layer;
  let y = (bias ? tf.fused.matMul({ a: x, b: weight, bias }) : tf.matMul(x, weight)) as Tensor2D;
  const needX = weight.trainable || (lora !== null && lora.a.trainable);
  const keptX = needX ? (input ?? saved.keep(x)) : null;
  let keptDown: (() => Tensor2D) | null = null;
  const dropped = lora !== null && ctx.training && lora.dropout > 0;
  const seed = dropped ? ctx.dropoutSeed(lora.index) : 0;
  if (lora) {
    // Scoped: the mask, the masked input and the plain product go as soon as the sum exists.
    const [sum, down] = tf.tidy(() => {
      const input = dropped ? tf.mul(x, dropoutMask(x.shape, lora.dropout, seed)) : x;
      const d = tf.mul(tf.matMul(input as Tensor2D, lora.a), lora.scale) as Tensor2D; // [N, r]
      return [tf.add(y, tf.matMul(d, lora.b)) as Tensor2D, d];
    });
    y.dispose();
    y = sum!;
    if (lora.b.trainable) keptDown = saved.keep(down!);
  }
  return {
    y,
    back: (dy) =>
      scopedBackward(grads, (add) => {
        let dx = tf.matMul(dy, tf.transpose(weight));
        if (weight.trainable) add(weight, weightGradient(keptX!(), dy));
        if (bias?.trainable) add(bias, tf.sum(dy, 0));
        if (lora) {
          if (keptDown) add(lora.b, tf.matMul(tf.transpose(keptDown()), dy));
          const dDown = tf.mul(tf.matMul(dy, tf.transpose(lora.b)), lora.scale) as Tensor2D; // [N, r]
          const mask = dropped ? dropoutMask(x.shape, lora.dropout, seed) : null;
          if (lora.a.trainable) {
            const input = mask ? tf.mul(keptX!(), mask) : keptX!();
            add(lora.a, tf.matMul(tf.transpose(input as Tensor2D), dDown));
          }
          const dInput = tf.matMul(dDown, tf.transpose(lora.a));
          dx = tf.add(dx, mask ? tf.mul(dInput, mask) : dInput);
        }
        return [dx];
      }),
  };
}

/** A layer norm's step, with its output available again in the backward pass. */
export interface NormStep extends Step<Tensor2D> {
  /** The forward output, recomputed (bit for bit) from the kept normalised input; only during the backward pass. */
  output: () => Tensor2D;
}

/** LayerNorm over the last axis of x [N, D], as torch.nn.LayerNorm (biased variance, eps inside the root). */
export function layerNormStep(x: Tensor2D, norm: Norm, eps: number, saved: Saved, grads: ParamGrads): NormStep {
  const affine = (xhat: Tensor2D): Tensor2D => tf.add(tf.mul(xhat, norm.weight), norm.bias) as Tensor2D;
  const [normalized, rstd, y] = tf.tidy(() => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const r = tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), eps));
    const xhat = tf.mul(centered, r) as Tensor2D;
    return [xhat, r, affine(xhat)];
  });
  const keptXhat = saved.keep(normalized!);
  const keptRstd = saved.keep(rstd!);
  return {
    y: y!,
    output: () => affine(keptXhat()),
    back: (dy) =>
      scopedBackward(grads, (add) => {
        const xhat = keptXhat();
        const dxhat = tf.mul(dy, norm.weight);
        const meanDxhat = tf.mean(dxhat, -1, true);
        const meanDxhatXhat = tf.mean(tf.mul(dxhat, xhat), -1, true);
        if (norm.weight.trainable) add(norm.weight, tf.sum(tf.mul(dy, xhat), 0));
        if (norm.bias.trainable) add(norm.bias, tf.sum(dy, 0));
        return [tf.mul(tf.sub(tf.sub(dxhat, meanDxhat), tf.mul(xhat, meanDxhatXhat)), keptRstd())];
      }),
  };
}

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** Whether the op being run is recorded for a gradient (inside tf.grads / variableGrads). */
function recordingGradients(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/**
 * Exact GELU, x · Φ(x) with Φ from erf (not the tanh approximation). When a
 * gradient will be taken, the forward pass also computes the slope
 * Φ(x) + x·φ(x) and keeps only that: one [N, 4D] tensor instead of x and
 * Φ(x) (DINOv2-small at 8 images: 150 MB less for a backward pass), and the
 * backward pass is one product. Without a tape nothing extra is computed.
 */
export function geluStep<T extends Tensor>(x: T, saved: Saved): Step<T> {
  const recording = recordingGradients();
  // Scoped: the [N, 4D] temporaries go at once, not at the end of the layer.
  const [y, slope] = tf.tidy(() => {
    const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, INV_SQRT2))));
    const out = tf.mul(x, cdf) as T;
    if (!recording) return [out];
    const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(x))));
    return [out, tf.add(cdf, tf.mul(x, pdf))];
  });
  const keptSlope = slope ? saved.keep(slope) : null;
  return {
    y: y as T,
    back: (dy) => {
      if (!keptSlope) throw new Error('internal: GELU backward pass without a recorded forward pass');
      return [tf.mul(dy, keptSlope())];
    },
  };
}

/** SwiGLU gate: [N, 2h] = [x1 | x2] -> SiLU(x1) · x2 [N, h]. */
export function swigluStep(both: Tensor2D, saved: Saved): Step<Tensor2D> {
  const [x1, x2] = tf.split(both, 2, 1) as [Tensor2D, Tensor2D];
  const sig = tf.sigmoid(x1);
  const silu = tf.mul(x1, sig);
  const kept1 = saved.keep(x1);
  const kept2 = saved.keep(x2);
  return {
    y: tf.mul(silu, x2) as Tensor2D,
    back: (dy) =>
      tf.tidy(() => {
        const a = kept1();
        const s = tf.sigmoid(a);
        // d SiLU(a)/da = σ(a) · (1 + a · (1 − σ(a)))
        const dSilu = tf.mul(s, tf.add(1, tf.mul(a, tf.sub(1, s))));
        return [tf.concat([tf.mul(tf.mul(dy, kept2()), dSilu), tf.mul(dy, tf.mul(a, s))], 1)];
      }),
  };
}

/** x [N, D] times a per-channel factor [D] (LayerScale); keeps x only when the factor trains. */
export function scaleStep(x: Tensor2D, lambda: Variable, saved: Saved, grads: ParamGrads): Step<Tensor2D> {
  const keptX = lambda.trainable ? saved.keep(x) : null;
  return {
    y: tf.mul(x, lambda),
    back: (dy) =>
      scopedBackward(grads, (add) => {
        if (keptX) add(lambda, tf.sum(tf.mul(dy, keptX()), 0));
        return [tf.mul(dy, lambda)];
      }),
  };
}

/** How attention multiplies per (image, head) block. */
export type AttentionStrategy = 'blocks' | 'batched';

/**
 * 'blocks' on wasm, whose batched (rank-3) matMul is a naive loop (~2
 * GFLOP/s, measured) while rank-2 products go to XNNPACK (~20-30 GFLOP/s);
 * 'batched' elsewhere (native TensorFlow batches well, and the blocks' host
 * round trip would cost a device sync on a GPU).
 */
export function defaultAttentionStrategy(): AttentionStrategy {
  return tf.getBackend() === 'wasm' ? 'blocks' : 'batched';
}

/**
 * Split a [rows, cols] tensor into `count` row blocks of `shape`, through the
 * host: on wasm, `slice` and `split` copy their whole input on every call and
 * `gather` walks elements one by one, while a read and a write are two
 * memcpys (measured).
 */
function hostBlocks(t: Tensor2D, count: number, shape: [number, number]): Tensor2D[] {
  const data = t.dataSync() as Float32Array;
  const size = shape[0] * shape[1];
  const out: Tensor2D[] = [];
  for (let b = 0; b < count; b++) out.push(tf.tensor2d(data.subarray(b * size, (b + 1) * size), shape));
  return out;
}

/** Moves between the 2-D activation layout [n*T, H*dh] and per-(image, head) blocks. */
class HeadLayout {
  readonly T: number;
  readonly dh: number;
  /** Number of (image, head) blocks. */
  readonly B: number;

  constructor(
    readonly rows: number,
    readonly width: number,
    readonly n: number,
    readonly heads: number,
  ) {
    this.T = rows / n;
    this.dh = width / heads;
    this.B = n * heads;
  }

  /** [n*T, H*dh] -> [n*H, T, dh]: block b = (image, head). */
  byHead(t: Tensor): Tensor3D {
    return tf.reshape(tf.transpose(tf.reshape(t, [this.n, this.T, this.heads, this.dh]), [0, 2, 1, 3]), [
      this.B,
      this.T,
      this.dh,
    ]);
  }

  /** [n*T, H*dh] -> [n*H, dh, T]: each block transposed. */
  byHeadT(t: Tensor): Tensor3D {
    return tf.reshape(tf.transpose(tf.reshape(t, [this.n, this.T, this.heads, this.dh]), [0, 2, 3, 1]), [
      this.B,
      this.dh,
      this.T,
    ]);
  }

  /** [n*H, T, dh] -> [n*T, H*dh] */
  fromHeads(t: Tensor): Tensor2D {
    return tf.reshape(tf.transpose(tf.reshape(t, [this.n, this.heads, this.T, this.dh]), [0, 2, 1, 3]), [
      this.rows,
      this.width,
    ]);
  }

  /** The blocks of `byHead(t)`, each [T, dh], as separate tensors. */
  blocks(t: Tensor): Tensor2D[] {
    return tf.tidy(() =>
      hostBlocks(tf.reshape(this.byHead(t), [this.B, this.T * this.dh]) as Tensor2D, this.B, [this.T, this.dh]),
    );
  }

  /** The blocks of `byHeadT(t)`, each [dh, T]. */
  blocksT(t: Tensor): Tensor2D[] {
    return tf.tidy(() =>
      hostBlocks(tf.reshape(this.byHeadT(t), [this.B, this.T * this.dh]) as Tensor2D, this.B, [this.dh, this.T]),
    );
  }

  /** [T, dh] blocks back to [n*T, H*dh]. */
  joinBlocks(blocks: Tensor2D[]): Tensor2D {
    return tf.tidy(() => this.fromHeads(tf.reshape(tf.concat(blocks, 0), [this.B, this.T, this.dh])));
  }
}

/**
 * Multi-head attention core: softmax(scale · q kᵀ) v for every image and
 * head. q, k, v, y: [n*T, H*dh], rows grouped by image, columns by head.
 * Keeps q (scaled), k, v and the attention probabilities, or with `recompute`
 * computes the probabilities again in the backward pass.
 */
export function attentionStep(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  n: number,
  heads: number,
  scale: number,
  saved: Saved,
  strategy: AttentionStrategy = defaultAttentionStrategy(),
  recompute = false,
): Step<Tensor2D> {
  const layout = new HeadLayout(q.shape[0], q.shape[1], n, heads);
  return strategy === 'batched'
    ? batchedAttentionStep(q, k, v, layout, scale, saved, recompute)
    : blockAttentionStep(q, k, v, layout, scale, saved, recompute);
}

/** One batched (rank-3) matMul per product, for backends that batch well. */
function batchedAttentionStep(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  L: HeadLayout,
  scale: number,
  saved: Saved,
  recompute: boolean,
): Step<Tensor2D> {
  // Scaling q (n*T*D values) is cheaper than scaling the scores (n*H*T*T).
  const qs = tf.mul(q, scale);
  const probsOf = (qScaled: Tensor, key: Tensor): Tensor3D =>
    tf.softmax(tf.matMul(L.byHead(qScaled), L.byHeadT(key))) as Tensor3D; // [B, T, T]
  const probs = probsOf(qs, k);
  const kq = saved.keep(qs);
  const kk = saved.keep(k);
  const kv = saved.keep(v);
  const kp = recompute ? () => probsOf(kq(), kk()) : saved.keep(probs);
  return {
    y: L.fromHeads(tf.matMul(probs, L.byHead(v))),
    back: (dy) =>
      tf.tidy(() => {
        const P = kp();
        const dOut = L.byHead(dy); // [B, T, dh]
        const dP = tf.matMul(dOut, L.byHeadT(kv())); // [B, T, T]
        const dV = tf.matMul(tf.transpose(P, [0, 2, 1]), dOut); // [B, T, dh]
        // softmax backward: dS = P ⊙ (dP − rowsum(dP ⊙ P))
        const dS = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 2, true))) as Tensor3D;
        const dQ = tf.mul(tf.matMul(dS, L.byHead(kk())), scale); // [B, T, dh]
        const dK = tf.matMul(tf.transpose(dS, [0, 2, 1]), L.byHead(kq())); // [B, T, dh]
        return [L.fromHeads(dQ), L.fromHeads(dK), L.fromHeads(dV)];
      }),
  };
}

/**
 * Block by block, for wasm: every product is a rank-2 matMul (XNNPACK), and
 * the [T, T] score and probability blocks are computed, kept and used as
 * separate tensors, so the largest tensors never cross to the host; only
 * q, k, v and dy ([n*T, D], H*T/dh times smaller) are split there.
 */
function blockAttentionStep(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  L: HeadLayout,
  scale: number,
  saved: Saved,
  recompute: boolean,
): Step<Tensor2D> {
  const probsOf = (qb: Tensor2D, kTb: Tensor2D): Tensor2D => tf.tidy(() => tf.softmax(tf.matMul(qb, kTb)) as Tensor2D);
  const qsBlocks = tf.tidy(() => L.blocks(tf.mul(q, scale)));
  const kT = L.blocksT(k);
  const probs = qsBlocks.map((qb, b) => probsOf(qb, kT[b]!));
  tf.dispose(kT);
  const vBlocks = L.blocks(v);
  const outBlocks = probs.map((p, b) => tf.matMul(p, vBlocks[b]!) as Tensor2D);
  tf.dispose(vBlocks);
  const y = L.joinBlocks(outBlocks);
  tf.dispose(outBlocks);
  const kq = qsBlocks.map((t) => saved.keep(t));
  const kk = saved.keep(k);
  const kv = saved.keep(v);
  if (recompute) tf.dispose(probs);
  const kp = recompute ? null : probs.map((t) => saved.keep(t));
  return {
    y,
    back: (dy) =>
      tf.tidy(() => {
        const dOut = L.blocks(dy);
        const vT = L.blocksT(kv());
        const kb = L.blocks(kk());
        const kTAgain = kp ? null : L.blocksT(kk());
        const dQ: Tensor2D[] = [];
        const dK: Tensor2D[] = [];
        const dV: Tensor2D[] = [];
        for (let b = 0; b < L.B; b++) {
          // One block's [T, T] temporaries go before the next block's are made.
          const [dq, dk, dv] = tf.tidy(() => {
            const P = kp ? kp[b]!() : probsOf(kq[b]!(), kTAgain![b]!);
            const dP = tf.matMul(dOut[b]!, vT[b]!);
            // softmax backward: dS = P ⊙ (dP − rowsum(dP ⊙ P))
            const dS = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 1, true))) as Tensor2D;
            return [tf.matMul(dS, kb[b]!), tf.matMul(tf.transpose(dS), kq[b]!()), tf.matMul(tf.transpose(P), dOut[b]!)];
          });
          dQ.push(dq!);
          dK.push(dk!);
          dV.push(dv!);
        }
        return [tf.mul(L.joinBlocks(dQ), scale), L.joinBlocks(dK), L.joinBlocks(dV)];
      }),
  };
}

// ------------------------------------------------------------------ stand-alone ops

/**
 * a · b for rank-2 or equal-batch rank-3 operands. `grads` says which
 * operands need a gradient (defaults: both); constants need none.
 */
export function matMul<T extends Tensor>(a: T, b: Tensor, grads: { a: boolean; b: boolean } = { a: true, b: true }): T {
  if (!grads.a && !grads.b) return tf.matMul(a as never, b as never) as unknown as T;
  const inputs = [grads.a ? a : null, grads.b ? b : null].filter((t): t is T => t !== null);
  return customOp(inputs, (xs, save) => {
    const A = grads.a ? xs[0]! : a;
    const B = grads.b ? xs[grads.a ? 1 : 0]! : b;
    // Keep alive only what the backward reads: dA needs B, dB needs A.
    save([grads.a ? B : A, grads.b ? A : B]);
    return {
      value: tf.matMul(A as never, B as never),
      gradFunc: (dy, [forDa, forDb]) => {
        const out: Tensor[] = [];
        if (grads.a) out.push(tf.matMul(dy as never, transposeLast2(forDa!) as never));
        if (grads.b) out.push(tf.matMul(transposeLast2(forDb!) as never, dy as never));
        return out;
      },
    };
  }) as T;
}

/** x [N, in] · W [in, out] + b as one op (LoRA too, when the layer has it). */
export function linear(
  x: Tensor2D,
  weight: Variable,
  bias: Variable | null,
  ctx: StepContext = INFERENCE,
  lora: LoraAdapter | null = null,
): Tensor2D {
  const layer: Linear = { path: '', weight, bias, lora };
  const params = [weight, ...(bias ? [bias] : []), ...(lora ? [lora.a, lora.b] : [])];
  return stepOp(
    [x],
    params,
    ([X], saved, grads) => linearStep(X as Tensor2D, layer, ctx, saved, grads) as Step,
  ) as Tensor2D;
}

export function layerNorm(x: Tensor2D, weight: Variable, bias: Variable, eps: number): Tensor2D {
  return stepOp(
    [x],
    [weight, bias],
    ([X], saved, grads) => layerNormStep(X as Tensor2D, { weight, bias }, eps, saved, grads) as Step,
  ) as Tensor2D;
}

export function gelu<T extends Tensor>(x: T): T {
  return stepOp([x], [], ([X], saved) => geluStep(X!, saved)) as T;
}

export function scaleChannels(x: Tensor2D, lambda: Variable): Tensor2D {
  return stepOp(
    [x],
    [lambda],
    ([X], saved, grads) => scaleStep(X as Tensor2D, lambda, saved, grads) as Step,
  ) as Tensor2D;
}

/**
 * Attention with one query per image (the CLS token of the last layer, when
 * only its output is read): softmax(scale · q kᵀ) v per head over all T keys.
 * q [n, H*dh]; k, v [n*T, H*dh] -> [n, H*dh]. With a single query row, each
 * (image, head) product is a [1, dh] x [dh, T] sliver, so broadcast products
 * over [n, T, H, dh] stand in for n·H tiny matMuls. Keeps q, k, v and the
 * [n, T, H] probabilities.
 */
export function clsAttentionStep(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  n: number,
  heads: number,
  scale: number,
  saved: Saved,
): Step<Tensor2D> {
  const [rows, width] = k.shape;
  const T = rows / n;
  const dh = width / heads;
  const byQuery = (t: Tensor): Tensor => tf.reshape(t, [n, 1, heads, dh]);
  const byKey = (t: Tensor): Tensor => tf.reshape(t, [n, T, heads, dh]);
  const probs = tf.tidy(() => {
    const scores = tf.mul(tf.sum(tf.mul(byQuery(q), byKey(k)), 3), scale); // [n, T, H]
    const e = tf.exp(tf.sub(scores, tf.max(scores, 1, true)));
    return tf.div(e, tf.sum(e, 1, true)) as Tensor3D; // softmax over the T keys
  });
  const y = tf.tidy(() => tf.reshape(tf.sum(tf.mul(tf.expandDims(probs, 3), byKey(v)), 1), [n, width]) as Tensor2D);
  const kq = saved.keep(q);
  const kk = saved.keep(k);
  const kv = saved.keep(v);
  const kp = saved.keep(probs);
  return {
    y,
    back: (dy) =>
      tf.tidy(() => {
        const P = kp(); // [n, T, H]
        const dOut = byQuery(dy); // [n, 1, H, dh]
        const dP = tf.sum(tf.mul(dOut, byKey(kv())), 3); // [n, T, H]
        const dV = tf.mul(tf.expandDims(P, 3), dOut); // [n, T, H, dh]
        // softmax backward, with the score scale folded in: dS = scale · P ⊙ (dP − Σ_T dP ⊙ P)
        // [n, T, H, 1]
        const dS = tf.expandDims(tf.mul(tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 1, true))), scale), 3);
        const dQ = tf.sum(tf.mul(dS, byKey(kk())), 1); // [n, H, dh]
        const dK = tf.mul(dS, byQuery(kq())); // [n, T, H, dh]
        return [tf.reshape(dQ, [n, width]), tf.reshape(dK, [rows, width]), tf.reshape(dV, [rows, width])];
      }),
  };
}

export function clsAttentionCore(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  n: number,
  heads: number,
  scale: number,
): Tensor2D {
  return stepOp(
    [q, k, v],
    [],
    ([Q, K, V], saved) => clsAttentionStep(Q as Tensor2D, K as Tensor2D, V as Tensor2D, n, heads, scale, saved) as Step,
  ) as Tensor2D;
}

export function attentionCore(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  n: number,
  heads: number,
  scale: number,
  strategy: AttentionStrategy = defaultAttentionStrategy(),
  recompute = false,
): Tensor2D {
  return stepOp(
    [q, k, v],
    [],
    ([Q, K, V], saved) =>
      attentionStep(Q as Tensor2D, K as Tensor2D, V as Tensor2D, n, heads, scale, saved, strategy, recompute) as Step,
  ) as Tensor2D;
}

export function swiglu(both: Tensor2D): Tensor2D {
  return stepOp([both], [], ([X], saved) => swigluStep(X as Tensor2D, saved) as Step) as Tensor2D;
}

/** Seeded inverted dropout (see dropoutMask); the backward pass draws the mask again. */
export function dropout<T extends Tensor>(x: T, rate: number, seed: number): T {
  if (rate <= 0) return x;
  return customOp([x], (xs) => ({
    value: tf.mul(xs[0]!, dropoutMask(x.shape, rate, seed)),
    gradFunc: (dy) => [tf.mul(dy, dropoutMask(x.shape, rate, seed))],
  })) as T;
}
