/**
 * Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_
 * (norm_type 2): total = sqrt(sum over tensors of |g|^2); when
 * max_norm / (total + 1e-6) < 1 every gradient is scaled by that factor.
 *
 * Measured here, applied by AdamW (optim/adamw.ts, `gradScale`) as it reads
 * each gradient: one pass over the gradients instead of two. torch scales
 * float32 gradients by a float32 factor, so `scale` is a float32 and g * scale
 * rounded to float32 is torch's clipped gradient exactly.
 */
import { tf } from '../../backend/tf';
import { gradientValues, type Gradient } from '../gradients';

export interface ClipResult {
  /** The global norm before clipping (what torch returns); NaN or Infinity if a gradient is not finite. */
  totalNorm: number;
  /** Whether the gradients are to be scaled down. */
  clipped: boolean;
  /** The factor every gradient is to be multiplied by: 1 when not clipped, else a float32 below 1. */
  scale: number;
}

/** Whether a gradient's values are at hand in this process's memory (host values, or a wasm/cpu tensor). */
function onHost(g: Gradient): boolean {
  return g instanceof Float32Array || ['wasm', 'cpu'].includes(tf.getBackend());
}

/**
 * The global L2 norm of all gradients together. Where the values are in this process's memory (host
 * values, the wasm and cpu backends) the sums of squares run in JavaScript, in double precision (the
 * exact norm rounded once to float32, within the float32 sums' rounding of torch's): one pass over the
 * values instead of four TF.js ops per tensor (the demo model's 79 tensors: 45-55 ms of CPU a step with
 * the ops).
 */
export function globalGradNorm(grads: Map<string, Gradient>): number {
  if (grads.size === 0) return 0;
  const all = [...grads.values()];
  if (all.every(onHost)) {
    let total = 0;
    for (const g of all) {
      const values = gradientValues(g);
      let sum = 0;
      for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
      // Per-tensor norms first, as torch does; each is a float32 there.
      total += Math.fround(Math.sqrt(sum)) ** 2;
    }
    return Math.fround(Math.sqrt(total));
  }
  return tf.tidy(() => {
    // Per-tensor norms first, then the norm of those, as torch does.
    const norms = all.map((g) => tf.norm(g));
    return tf.norm(tf.stack(norms)).dataSync()[0]!;
  });
}

/**
 * The clipping of `grads` to `maxNorm`: their global norm and the factor to scale them by (the gradients
 * are not touched). `maxNorm` 0 turns clipping off; the norm is still measured, for the logs.
 */
export function gradClipping(grads: Map<string, Gradient>, maxNorm: number): ClipResult {
  if (!(maxNorm >= 0)) throw new Error(`max_grad_norm must be >= 0 (0 turns clipping off), got ${maxNorm}.`);
  const totalNorm = globalGradNorm(grads);
  const coef = maxNorm / (totalNorm + 1e-6);
  if (maxNorm === 0 || !Number.isFinite(totalNorm) || !(coef < 1)) return { totalNorm, clipped: false, scale: 1 };
  return { totalNorm, clipped: true, scale: Math.fround(coef) };
}
