/**
 * The linear layer with its LoRA update, and the LoRA dropout mask.
 *
 * Why by hand (this file and the other steps): tfjs' built-in matMul gradient
 * multiplies with transposeA/transposeB, which the wasm backend runs 10-70x
 * slower than a plain matMul (measured: ~30 GFLOP/s plain, 2.3 with
 * transposeB, 0.4 with transposeA). Every matMul here, forward and backward,
 * is plain; operands are transposed explicitly. A frozen weight gets no
 * gradient computed (it would cost as much as the forward matMul).
 */
import { tf, type Tensor, type Tensor2D } from '../../backend/tf';
import { Rng, RNG_STEP, rngMix } from '../../util/rng';
import { scopedBackward, type Step, type StepScope } from '../autograd';
import type { Linear } from '../weights';

/**
 * Inverted-dropout mask (kept entries 1/(1-rate), dropped 0) from our Rng:
 * the same on every backend, a few times faster than tfjs' seeded generator
 * (measured), and cheap enough to draw again in the backward pass instead of
 * keeping it.
 */
export function dropoutMask(shape: number[], rate: number, seed: number): Tensor {
  return tf.tensor(
    dropoutMaskValues(
      shape.reduce((a, b) => a * b, 1),
      rate,
      seed,
    ),
    shape,
    'float32',
  );
}

/**
 * dropoutMask's values, row-major: the ONNX training graphs take the same
 * masks as inputs. Each 32-bit draw decides two entries by its two 16-bit
 * halves (an entry is dropped when its half falls below rate · 65536, the
 * rate rounded to 1/65536): half the generator calls of a draw per entry,
 * which matters at ~40 M entries a chunk of LoRA dropout on DINOv2-small.
 */
export function dropoutMaskValues(length: number, rate: number, seed: number): Float32Array {
  const scale = 1 / (1 - rate);
  const threshold = Math.round(rate * 65536);
  const values = new Float32Array(length);
  // Rng(seed)'s draws, inline (see rngMix); module bindings read once (each read is a property lookup).
  const step = RNG_STEP;
  const mix = rngMix;
  let state = seed | 0;
  for (let i = 0; i < length; i += 2) {
    state = (state + step) | 0;
    const u = mix(state);
    values[i] = (u & 0xffff) >= threshold ? scale : 0;
    if (i + 1 < length) values[i + 1] = u >>> 16 >= threshold ? scale : 0;
  }
  return values;
}

/** The dropout seed of the adapter at `index` in a forward pass seeded with `base` (one seed per chunk). */
export function adapterDropoutSeed(base: number, index: number): number {
  return new Rng((base ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0).nextUint32();
}

/**
 * xᵀ · dy, [in, out], for x [N, in] and dy [N, out]. XNNPACK repacks the right
 * operand of every product with a new tensor, which costs about as much as a
 * pass over it; packing the narrower of the two (computing (dyᵀ · x)ᵀ when x
 * is narrower) saves ~15% on fc1 (measured).
 */
function weightGradient(x: Tensor2D, dy: Tensor2D): Tensor2D {
  if (x.shape[1] < dy.shape[1]) return tf.transpose(tf.matMul<Tensor2D>(tf.transpose(dy), x));
  return tf.matMul(tf.transpose(x), dy);
}

/**
 * Linear layer with its LoRA update, if any (dinov2Paper.ts `linearLayer`):
 *   y = x W + b + scale · (dropout(x) A) B,   x [N, in] -> y [N, out].
 * Needs x in the backward pass only when W or A trains: then it keeps x,
 * unless `xAgain` can give x again then (a layer norm's output, recomputed
 * from what the norm keeps anyway). Keeps the [N, r] down-projection only
 * when B trains; the dropout mask is drawn again from its seed.
 */
export function linearStep(s: StepScope, layer: Linear, x: Tensor2D, xAgain?: () => Tensor2D): Step {
  const { weight, bias, lora } = layer;
  let y: Tensor2D = bias
    ? (tf.fused.matMul({ a: x, b: weight, bias }) as Tensor2D) // tfjs types the fused matMul as any rank
    : tf.matMul(x, weight);
  const needX = weight.trainable || (lora !== null && lora.a.trainable);
  const keptX = needX ? (xAgain ?? s.saved.keep(x)) : null;
  let keptDown: (() => Tensor2D) | null = null;
  const dropped = lora !== null && s.training && lora.dropout > 0;
  const seed = dropped ? s.dropoutSeed(lora.index) : 0;
  if (lora) {
    // Scoped: the mask, the masked input and the plain product go as soon as the sum exists.
    const { sum, down } = tf.tidy(() => {
      const input: Tensor2D = dropped ? tf.mul(x, dropoutMask(x.shape, lora.dropout, seed)) : x;
      const down: Tensor2D = tf.mul(tf.matMul(input, lora.a), lora.scale); // [N, r]
      return { sum: tf.add<Tensor2D>(y, tf.matMul(down, lora.b)), down };
    });
    y.dispose();
    y = sum;
    if (lora.b.trainable) keptDown = s.saved.keep(down);
  }
  return {
    y,
    back: (dy) =>
      scopedBackward(s.grads, (add) => {
        let dx: Tensor2D = tf.matMul(dy, tf.transpose(weight));
        if (weight.trainable) add(weight, weightGradient(keptX!(), dy));
        if (bias?.trainable) add(bias, tf.sum(dy, 0));
        if (lora) {
          if (keptDown) add(lora.b, tf.matMul(tf.transpose(keptDown()), dy));
          const dDown: Tensor2D = tf.mul(tf.matMul(dy, tf.transpose(lora.b)), lora.scale); // [N, r]
          const mask = dropped ? dropoutMask(x.shape, lora.dropout, seed) : null;
          if (lora.a.trainable) {
            const input: Tensor2D = mask ? tf.mul(keptX!(), mask) : keptX!();
            add(lora.a, tf.matMul(tf.transpose(input), dDown));
          }
          const dInput = tf.matMul(dDown, tf.transpose(lora.a));
          dx = tf.add(dx, mask ? tf.mul(dInput, mask) : dInput);
        }
        return dx;
      }),
  };
}
