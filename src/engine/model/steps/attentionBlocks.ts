/** Attention's core block by block, for wasm. */
import { tf, type Tensor2D } from '../../backend/tf';
import type { Step, StepScope } from '../autograd';
import type { Qkv } from './attention';
import type { HeadLayout } from './headLayout';

/**
 * softmax(scale · q kᵀ) v (see attention.ts) with every product a rank-2
 * matMul (XNNPACK): the [T, T] score and probability blocks are computed,
 * kept and used as separate tensors, so the largest tensors never cross to
 * the host; only q, k, v and dy ([n*T, D], H*T/dh times smaller) are split
 * there.
 */
export function blockAttentionStep(
  s: StepScope,
  { q, k, v }: Qkv,
  L: HeadLayout,
  scale: number,
  recompute: boolean,
): Step<Qkv> {
  const probsOf = (qb: Tensor2D, kTb: Tensor2D): Tensor2D => tf.tidy(() => tf.softmax(tf.matMul<Tensor2D>(qb, kTb)));
  const qScaledBlocks = tf.tidy(() => L.blocks(tf.mul(q, scale)));
  const kT = L.blocksT(k);
  const probs = qScaledBlocks.map((qb, b) => probsOf(qb, kT[b]!));
  tf.dispose(kT);
  const vBlocks = L.blocks(v);
  const outBlocks = probs.map((p, b) => tf.matMul<Tensor2D>(p, vBlocks[b]!));
  tf.dispose(vBlocks);
  const y = L.joinBlocks(outBlocks);
  tf.dispose(outBlocks);
  const keptQScaled = qScaledBlocks.map((t) => s.saved.keep(t));
  const keptK = s.saved.keep(k);
  const keptV = s.saved.keep(v);
  if (recompute) tf.dispose(probs);
  const keptProbs = recompute ? null : probs.map((t) => s.saved.keep(t));
  return {
    y,
    back: (dy) =>
      tf.tidy(() => {
        const dOut = L.blocks(dy);
        const vT = L.blocksT(keptV());
        const kBlocks = L.blocks(keptK());
        const kTAgain = keptProbs ? null : L.blocksT(keptK());
        const dQ: Tensor2D[] = [];
        const dK: Tensor2D[] = [];
        const dV: Tensor2D[] = [];
        for (let b = 0; b < L.B; b++) {
          // One block's [T, T] temporaries go before the next block's are made.
          const grads = tf.tidy(() => {
            const P = keptProbs ? keptProbs[b]!() : probsOf(keptQScaled[b]!(), kTAgain![b]!);
            const dP = tf.matMul(dOut[b]!, vT[b]!);
            // softmax backward: dS = P ⊙ (dP − rowsum(dP ⊙ P))
            const dS: Tensor2D = tf.mul(P, tf.sub(dP, tf.sum(tf.mul(dP, P), 1, true)));
            return {
              q: tf.matMul<Tensor2D>(dS, kBlocks[b]!),
              k: tf.matMul<Tensor2D>(tf.transpose(dS), keptQScaled[b]!()),
              v: tf.matMul<Tensor2D>(tf.transpose(P), dOut[b]!),
            };
          });
          dQ.push(grads.q);
          dK.push(grads.k);
          dV.push(grads.v);
        }
        return { q: tf.mul<Tensor2D>(L.joinBlocks(dQ), scale), k: L.joinBlocks(dK), v: L.joinBlocks(dV) };
      }),
  };
}
