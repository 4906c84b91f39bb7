/** Attention's core with one batched (rank-3) matMul per product, for backends that batch well. */
import { tf, type Tensor, type Tensor3D } from '../../backend/tf';
import type { Step, StepScope } from '../autograd';
import type { Qkv } from './attention';
import type { HeadLayout } from './headLayout';

/** softmax(scale · q kᵀ) v over [n*H, T, T] score blocks; see attention.ts. */
export function batchedAttentionStep(
  s: StepScope,
  { q, k, v }: Qkv,
  L: HeadLayout,
  scale: number,
  recompute: boolean,
): Step<Qkv> {
  // Scaling q (n*T*D values) is cheaper than scaling the scores (n*H*T*T).
  const qScaled = tf.mul(q, scale);
  // [B, T, T]
  const probsOf = (qs: Tensor, key: Tensor): Tensor3D => tf.softmax(tf.matMul<Tensor3D>(L.byHead(qs), L.byHeadT(key)));
  const probs = probsOf(qScaled, k);
  const keptQScaled = s.saved.keep(qScaled);
  const keptK = s.saved.keep(k);
  const keptV = s.saved.keep(v);
  const keptProbs = recompute ? () => probsOf(keptQScaled(), keptK()) : s.saved.keep(probs);
  return {
    y: L.fromHeads(tf.matMul(probs, L.byHead(v))),
    back: (dy) =>
      tf.tidy(() => {
        const P = keptProbs();
        const dOut = L.byHead(dy); // [B, T, dh]
        const dP = tf.matMul(dOut, L.byHeadT(keptV())); // [B, T, T]
        const dV = tf.matMul(tf.transpose(P, [0, 2, 1]), dOut); // [B, T, dh]
        // softmax backward: dS = P ⊙ (dP − rowsum(dP ⊙ P))
        const dS: Tensor3D = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 2, true)));
        const dQ = tf.mul(tf.matMul(dS, L.byHead(keptK())), scale); // [B, T, dh]
        const dK = tf.matMul(tf.transpose(dS, [0, 2, 1]), L.byHead(keptQScaled())); // [B, T, dh]
        return { q: L.fromHeads(dQ), k: L.fromHeads(dK), v: L.fromHeads(dV) };
      }),
  };
}
