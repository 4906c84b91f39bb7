/**
 * Multi-head attention's core, softmax(scale · q kᵀ) v per image and head
 * (dinov2Paper.ts `attention`, between the q/k/v projections and the output
 * projection), with its hand-written backward pass. Two ways to run it, for
 * two kinds of backend: attentionBatched.ts and attentionBlocks.ts; and a
 * third for one query per image, attentionCls.ts.
 */
import { tf, type Tensor2D } from '../../backend/tf';
import type { Step, StepScope } from '../autograd';
import { batchedAttentionStep } from './attentionBatched';
import { blockAttentionStep } from './attentionBlocks';
import { HeadLayout } from './headLayout';

/** Attention's three inputs, or their gradients: [rows, H*dh] each, rows grouped by image, columns by head. */
export type Qkv = { q: Tensor2D; k: Tensor2D; v: Tensor2D };

/** How attention multiplies per (image, head) block. */
export type AttentionStrategy = 'blocks' | 'batched';

/**
 * 'blocks' on wasm, whose batched (rank-3) matMul is a naive loop (~2
 * GFLOP/s, measured) while rank-2 products go to XNNPACK (~20-30 GFLOP/s);
 * 'batched' elsewhere (native TensorFlow batches well, and the blocks' host
 * round trip would cost a device sync on a GPU).
 */
export function defaultAttentionStrategy(): AttentionStrategy {
  return tf.getBackend() === 'wasm' ? 'blocks' : 'batched';
}

export interface AttentionOptions {
  /** Images in the batch: the rows of q, k and v are n groups of T tokens. */
  images: number;
  heads: number;
  /** Multiplies the scores: 1 / sqrt(dh). */
  scale: number;
  /** Default: defaultAttentionStrategy(). */
  strategy?: AttentionStrategy;
  /**
   * Compute the probabilities again in the backward pass instead of keeping
   * them (StepContext.recomputeAttention). Default: the scope's setting.
   */
  recompute?: boolean;
}

/**
 * softmax(scale · q kᵀ) v for every image and head. q, k, v, y: [n*T, H*dh].
 * Keeps q (scaled), k, v and the attention probabilities, or with `recompute`
 * computes the probabilities again in the backward pass.
 */
export function attentionCoreStep(s: StepScope, { q, k, v }: Qkv, o: AttentionOptions): Step<Qkv> {
  const layout = new HeadLayout(q.shape[0], q.shape[1], o.images, o.heads);
  const recompute = o.recompute ?? s.recomputeAttention === true;
  const run = (o.strategy ?? defaultAttentionStrategy()) === 'batched' ? batchedAttentionStep : blockAttentionStep;
  return run(s, { q, k, v }, layout, o.scale, recompute);
}
