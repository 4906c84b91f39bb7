/**
 * Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_
 * (norm_type 2): total = sqrt(sum over tensors of |g|^2); when
 * max_norm / (total + 1e-6) < 1 every gradient is scaled by that factor.
 */
import { tf } from '../../backend/tf';
import { gradientValues, type Gradient } from '../gradients';

export interface ClipResult {
  /** The global norm before clipping (what torch returns); NaN or Infinity if a gradient is not finite. */
  totalNorm: number;
  /** Whether the gradients were scaled down. */
  clipped: boolean;
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
 * Clip in place: tensors are replaced by scaled ones (the replaced tensors
 * are disposed), host values are scaled where they are. `maxNorm` 0 turns
 * clipping off; the norm is still measured, for the logs.
 */
export function clipGradNorm(grads: Map<string, Gradient>, maxNorm: number): ClipResult {
  if (!(maxNorm >= 0)) throw new Error(`max_grad_norm must be >= 0 (0 turns clipping off), got ${maxNorm}.`);
  const totalNorm = globalGradNorm(grads);
  const coef = maxNorm / (totalNorm + 1e-6);
  if (maxNorm === 0 || !Number.isFinite(totalNorm) || !(coef < 1)) return { totalNorm, clipped: false };
  // torch multiplies float32 gradients by a float32 coefficient.
  const coef32 = Math.fround(coef);
  for (const [name, g] of grads) {
    if (g instanceof Float32Array) {
      for (let i = 0; i < g.length; i++) g[i] = g[i]! * coef32;
    } else {
      grads.set(name, tf.mul(g, coef));
      g.dispose();
    }
  }
  return { totalNorm, clipped: true };
}
