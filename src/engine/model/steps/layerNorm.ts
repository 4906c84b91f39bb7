/** LayerNorm with its hand-written backward pass (steps/linear.ts says why by hand). */
import { tf, type Tensor2D } from '../../backend/tf';
import { scopedBackward, type Step, type StepScope } from '../autograd';
import type { Norm } from '../weights';

/** A layer norm's step, with its output available again in the backward pass. */
export interface NormStep extends Step {
  /** The forward output, recomputed (bit for bit) from the kept normalised input; only during the backward pass. */
  outputAgain: () => Tensor2D;
}

/**
 * LayerNorm over the last axis of x [N, D], as torch.nn.LayerNorm (biased
 * variance, eps inside the root; dinov2Paper.ts `layerNorm`). Keeps the
 * normalised input and 1/std.
 */
export function layerNormStep(s: StepScope, norm: Norm, eps: number, x: Tensor2D): NormStep {
  const affine = (xhat: Tensor2D): Tensor2D => tf.add(tf.mul(xhat, norm.weight), norm.bias);
  const { normalized, rstd, y } = tf.tidy(() => {
    const centered = tf.sub(x, tf.mean(x, -1, true));
    const rstd: Tensor2D = tf.rsqrt(tf.add<Tensor2D>(tf.mean(tf.square(centered), -1, true), eps));
    const normalized: Tensor2D = tf.mul(centered, rstd);
    return { normalized, rstd, y: affine(normalized) };
  });
  const keptXhat = s.saved.keep(normalized);
  const keptRstd = s.saved.keep(rstd);
  return {
    y,
    outputAgain: () => affine(keptXhat()),
    back: (dy) =>
      scopedBackward(s.grads, (add) => {
        const xhat = keptXhat();
        const dxhat = tf.mul(dy, norm.weight);
        const meanDxhat = tf.mean(dxhat, -1, true);
        const meanDxhatXhat = tf.mean(tf.mul(dxhat, xhat), -1, true);
        if (norm.weight.trainable) add(norm.weight, tf.sum(tf.mul(dy, xhat), 0));
        if (norm.bias.trainable) add(norm.bias, tf.sum(dy, 0));
        return tf.mul<Tensor2D>(tf.sub(tf.sub(dxhat, meanDxhat), tf.mul(xhat, meanDxhatXhat)), keptRstd());
      }),
  };
}
