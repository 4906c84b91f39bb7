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

/** The global L2 norm of all gradients together; one read-back from the backend. */
export function globalGradNorm(grads: Map<string, Tensor>): number {
  if (grads.size === 0) return 0;
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
