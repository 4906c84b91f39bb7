/**
 * Stand-alone differentiable ops: each step of steps/ run as one custom op
 * (one node on the gradient tape), for the parts of the model outside the
 * encoder's layers and for testing the steps one by one against tfjs'
 * automatic differentiation (test/engine/model/ops.test.ts); plus a matMul
 * and a dropout whose gradients use plain matMuls and the same mask.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../backend/tf';
import { customOp, INFERENCE, stepOp, stepOpN, type StepContext } from './autograd';
import { geluStep, swigluStep } from './steps/activations';
import { attentionCoreStep, defaultAttentionStrategy, type AttentionStrategy } from './steps/attention';
import { clsAttentionCoreStep } from './steps/attentionCls';
import { layerNormStep } from './steps/layerNorm';
import { layerScaleStep } from './steps/layerScale';
import { dropoutMask, linearStep } from './steps/linear';
import { linearParams, type LoraAdapter } from './weights';

/** Swap the last two axes. */
export function transposeLast2(t: Tensor): Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = t.rank;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(t, perm);
}

/**
 * a · b for rank-2 or equal-batch rank-3 operands. `grads` says which
 * operands need a gradient (defaults: both); constants need none.
 */
export function matMul<T extends Tensor>(a: T, b: Tensor, grads: { a: boolean; b: boolean } = { a: true, b: true }): T {
  if (!grads.a && !grads.b) return tf.matMul<T>(a, b);
  const inputs = [grads.a ? a : null, grads.b ? b : null].filter((t): t is T => t !== null);
  return customOp<T>(inputs, (xs, save) => {
    const A = grads.a ? xs[0]! : a;
    const B = grads.b ? xs[grads.a ? 1 : 0]! : b;
    // Keep alive only what the backward reads: dA needs B, dB needs A.
    save([grads.a ? B : A, grads.b ? A : B]);
    return {
      value: tf.matMul<T>(A, B),
      gradFunc: (dy, [forDa, forDb]) => {
        const out: Tensor[] = [];
        if (grads.a) out.push(tf.matMul(dy, transposeLast2(forDa!)));
        if (grads.b) out.push(tf.matMul(transposeLast2(forDb!), dy));
        return out;
      },
    };
  });
}

/** x [N, in] · W [in, out] + b as one op (LoRA too, when the layer has it). */
export function linear(
  x: Tensor2D,
  weight: Variable,
  bias: Variable | null,
  ctx: StepContext = INFERENCE,
  lora: LoraAdapter | null = null,
): Tensor2D {
  const layer = { path: '', weight, bias, lora };
  return stepOp(x, linearParams(layer), ctx, (input, s) => linearStep(s, layer, input));
}

export function layerNorm(x: Tensor2D, weight: Variable, bias: Variable, eps: number): Tensor2D {
  return stepOp(x, [weight, bias], INFERENCE, (input, s) => layerNormStep(s, { weight, bias }, eps, input));
}

export function gelu<T extends Tensor>(x: T): T {
  return stepOp(x, [], INFERENCE, (input, s) => geluStep(s, input));
}

export function swiglu(both: Tensor2D): Tensor2D {
  return stepOp(both, [], INFERENCE, (input, s) => swigluStep(s, input));
}

/** LayerScale: x [N, D] · λ [D]. */
export function scaleChannels(x: Tensor2D, lambda: Variable): Tensor2D {
  return stepOp(x, [lambda], INFERENCE, (input, s) => layerScaleStep(s, lambda, input));
}

/** softmax(scale · q kᵀ) v per image and head (steps/attention.ts): q, k, v [n*T, H*dh] -> [n*T, H*dh]. */
export function attentionCore(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  options: { images: number; heads: number; scale: number; strategy?: AttentionStrategy; recompute?: boolean },
): Tensor2D {
  const o = { strategy: defaultAttentionStrategy(), recompute: false, ...options };
  return stepOpN([q, k, v], [], INFERENCE, ([q, k, v], s) => {
    const step = attentionCoreStep(s, { q, k, v }, o);
    return { y: step.y, back: (dy) => qkvList(step.back(dy)) };
  });
}

/** Attention with one query per image (steps/attentionCls.ts): q [n, H*dh]; k, v [n*T, H*dh] -> [n, H*dh]. */
export function clsAttentionCore(
  q: Tensor2D,
  k: Tensor2D,
  v: Tensor2D,
  options: { images: number; heads: number; scale: number },
): Tensor2D {
  return stepOpN([q, k, v], [], INFERENCE, ([q, k, v], s) => {
    const step = clsAttentionCoreStep(s, { q, k, v }, options);
    return { y: step.y, back: (dy) => qkvList(step.back(dy)) };
  });
}

function qkvList(d: { q: Tensor2D; k: Tensor2D; v: Tensor2D }): [Tensor2D, Tensor2D, Tensor2D] {
  return [d.q, d.k, d.v];
}

/** Seeded inverted dropout (see dropoutMask); the backward pass draws the mask again. */
export function dropout<T extends Tensor>(x: T, rate: number, seed: number): T {
  if (rate <= 0) return x;
  return customOp<T>([x], (xs) => ({
    value: tf.mul<T>(xs[0]!, dropoutMask(x.shape, rate, seed)),
    gradFunc: (dy) => [tf.mul(dy, dropoutMask(x.shape, rate, seed))],
  }));
}
