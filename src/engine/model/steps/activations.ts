/** The MLPs' nonlinearities, exact GELU and the SwiGLU gate, with hand-written backward passes. */
import { tf, type Tensor, type Tensor2D } from '../../backend/tf';
import type { Step, StepScope } from '../autograd';

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
export function geluStep<T extends Tensor>(s: StepScope, x: T): Step<T, T> {
  const recording = recordingGradients();
  // Scoped: the [N, 4D] temporaries go at once, not at the end of the layer.
  const { y, slope } = tf.tidy(() => {
    const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x, INV_SQRT2))));
    const y = tf.mul<T>(x, cdf);
    if (!recording) return { y };
    const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(x))));
    return { y, slope: tf.add<T>(cdf, tf.mul(x, pdf)) };
  });
  const keptSlope = slope ? s.saved.keep(slope) : null;
  return {
    y,
    back: (dy) => {
      if (!keptSlope) throw new Error('internal: GELU backward pass without a recorded forward pass');
      return tf.mul(dy, keptSlope());
    },
  };
}

/** SwiGLU gate: [N, 2h] = [x1 | x2] -> SiLU(x1) · x2 [N, h]. Keeps x1 and x2. */
export function swigluStep(s: StepScope, both: Tensor2D): Step {
  const [x1, x2] = tf.split<Tensor2D>(both, 2, 1);
  const silu = tf.mul(x1!, tf.sigmoid(x1!));
  const keptX1 = s.saved.keep(x1!);
  const keptX2 = s.saved.keep(x2!);
  return {
    y: tf.mul(silu, x2!),
    back: (dy) =>
      tf.tidy(() => {
        const a = keptX1();
        const sig = tf.sigmoid(a);
        // d SiLU(a)/da = σ(a) · (1 + a · (1 − σ(a)))
        const dSilu = tf.mul(sig, tf.add(1, tf.mul(a, tf.sub(1, sig))));
        return tf.concat([tf.mul<Tensor2D>(tf.mul(dy, keptX2()), dSilu), tf.mul<Tensor2D>(dy, tf.mul(a, sig))], 1);
      }),
  };
}
