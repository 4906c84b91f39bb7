/**
 * Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_
 * (norm_type 2): total = sqrt(sum over tensors of |g|^2); when
 * max_norm / (total + 1e-6) < 1 every gradient is scaled by that factor.
 */
import { tf, type Tensor } from '../../backend/tf';

export interface ClipResult {
  /** The global norm before clipping (what torch returns); NaN or Infinity if a gradient is not finite. */
  totalNorm: number;
  /** Whether the gradients were scaled down. */
  clipped: boolean;
}

/**
 * The global L2 norm of all gradients together; one read-back from the backend. On the backends whose
 * tensors are in this process's memory (wasm, cpu) the sums of squares run in JavaScript, in double
 * precision (the exact norm rounded once to float32, within the float32 sums' rounding of torch's):
 * one pass over the values instead of four TF.js ops per tensor (the demo model's 79 tensors: 45-55 ms
 * of CPU a step with the ops).
 */
export function globalGradNorm(grads: Map<string, Tensor>): number {
  if (grads.size === 0) return 0;
  if (['wasm', 'cpu'].includes(tf.getBackend())) {
    let total = 0;
    for (const g of grads.values()) {
      const values = g.dataSync() as Float32Array;
      let sum = 0;
      for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
      // Per-tensor norms first, as torch does; each is a float32 there.
      total += Math.fround(Math.sqrt(sum)) ** 2;
    }
    return Math.fround(Math.sqrt(total));
  }
  return tf.tidy(() => {
    // Per-tensor norms first, then the norm of those, as torch does.
    const norms = [...grads.values()].map((g) => tf.norm(g));
    return tf.norm(tf.stack(norms)).dataSync()[0]!;
  });
}

/**
 * Clip in place: scaled gradients replace the map's entries (the replaced
 * tensors are disposed). `maxNorm` 0 turns clipping off; the norm is still
 * measured, for the logs.
 */
export function clipGradNorm(grads: Map<string, Tensor>, maxNorm: number): ClipResult {
  if (!(maxNorm >= 0)) throw new Error(`max_grad_norm must be >= 0 (0 turns clipping off), got ${maxNorm}.`);
  const totalNorm = globalGradNorm(grads);
  const coef = maxNorm / (totalNorm + 1e-6);
  if (maxNorm === 0 || !Number.isFinite(totalNorm) || !(coef < 1)) return { totalNorm, clipped: false };
  for (const [name, g] of grads) {
    grads.set(name, tf.mul(g, coef));
    g.dispose();
  }
  return { totalNorm, clipped: true };
}
