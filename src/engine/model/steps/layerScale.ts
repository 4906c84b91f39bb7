/** LayerScale with its hand-written backward pass. */
import { tf, type Tensor2D, type Variable } from '../../backend/tf';
import { scopedBackward, type Step, type StepScope } from '../autograd';

/** x [N, D] times a per-channel factor λ [D] (dinov2Paper.ts `layerScale`); keeps x only when λ trains. */
export function layerScaleStep(s: StepScope, lambda: Variable, x: Tensor2D): Step {
  const keptX = lambda.trainable ? s.saved.keep(x) : null;
  return {
    y: tf.mul(x, lambda),
    back: (dy) =>
      scopedBackward(s.grads, (add) => {
        if (keptX) add(lambda, tf.sum(tf.mul(dy, keptX()), 0));
        return tf.mul<Tensor2D>(dy, lambda);
      }),
  };
}
