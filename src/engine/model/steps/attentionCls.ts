/** Attention's core for one query per image: the last layer when only the CLS token's output is read. */
import { tf, type Tensor, type Tensor2D, type Tensor3D } from '../../backend/tf';
import type { Step, StepScope } from '../autograd';
import type { Qkv } from './attention';

/**
 * softmax(scale · q kᵀ) v per head over all T keys, with a single query row
 * per image: q [n, H*dh]; k, v [n*T, H*dh] -> [n, H*dh]. Each (image, head)
 * product would be a [1, dh] x [dh, T] sliver, so broadcast products over
 * [n, T, H, dh] stand in for n·H tiny matMuls. Keeps q, k, v and the
 * [n, T, H] probabilities.
 */
export function clsAttentionCoreStep(
  s: StepScope,
  { q, k, v }: Qkv,
  o: { images: number; heads: number; scale: number },
): Step<Qkv> {
  const { images: n, heads, scale } = o;
  const [rows, width] = k.shape;
  const T = rows / n;
  const dh = width / heads;
  const byQuery = (t: Tensor): Tensor => tf.reshape(t, [n, 1, heads, dh]);
  const byKey = (t: Tensor): Tensor => tf.reshape(t, [n, T, heads, dh]);
  const probs = tf.tidy(() => {
    const scores = tf.mul(tf.sum(tf.mul(byQuery(q), byKey(k)), 3), scale); // [n, T, H]
    const e = tf.exp(tf.sub(scores, tf.max(scores, 1, true)));
    return tf.div<Tensor3D>(e, tf.sum(e, 1, true)); // softmax over the T keys
  });
  const y: Tensor2D = tf.tidy(() => tf.reshape(tf.sum(tf.mul(tf.expandDims(probs, 3), byKey(v)), 1), [n, width]));
  const keptQ = s.saved.keep(q);
  const keptK = s.saved.keep(k);
  const keptV = s.saved.keep(v);
  const keptProbs = s.saved.keep(probs);
  return {
    y,
    back: (dy) =>
      tf.tidy(() => {
        const P = keptProbs(); // [n, T, H]
        const dOut = byQuery(dy); // [n, 1, H, dh]
        const dP = tf.sum(tf.mul(dOut, byKey(keptV())), 3); // [n, T, H]
        const dV = tf.mul(tf.expandDims(P, 3), dOut); // [n, T, H, dh]
        // softmax backward, with the score scale folded in: dS = scale · P ⊙ (dP − Σ_T dP ⊙ P)
        // [n, T, H, 1]
        const dS = tf.expandDims(tf.mul(tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 1, true))), scale), 3);
        const dQ = tf.sum(tf.mul(dS, byKey(keptK())), 1); // [n, H, dh]
        const dK = tf.mul(dS, byQuery(keptQ())); // [n, T, H, dh]
        const d: Qkv = {
          q: tf.reshape(dQ, [n, width]),
          k: tf.reshape(dK, [rows, width]),
          v: tf.reshape(dV, [rows, width]),
        };
        return d;
      }),
  };
}
