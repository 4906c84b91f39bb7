/**
 * Label-aware InfoNCE (the supervised-contrastive form) on embedding pairs.
 *
 * logits = normalize(q) . normalize(p)^T / temperature, one row per query.
 * For query i the positives are every p_j whose pair has the same label as
 * pair i (p_i always), and
 *   loss_i = -mean over positives j of log softmax_j(logits_i),
 *   loss   = mean over i of loss_i.
 * Without labels the only positive is p_i: plain InfoNCE, i.e. cross-entropy
 * against the diagonal.
 *
 * Stated behaviour (deliberately simple):
 * - One direction only, queries -> positives. There is no p -> q term.
 * - Queries are contrasted against the batch's positives only, never against
 *   other queries (nor positives against positives).
 * Same-label positives stay in the softmax denominator as well, as in SupCon.
 *
 * tf.logSoftmax subtracts the row maximum before exponentiating, so large
 * logits (tiny temperatures) do not overflow; a non-finite result can still
 * come from non-finite embeddings, and callers check for it.
 */
import { tf, type Tensor2D } from '../../backend/tf';
import type { Scalar } from '../../backend/tf';
import { checkPairShapes, cosineSimilarities, sameLabelMask, type BatchLabels } from './common';

export interface InfoNceOptions {
  /** > 0; logits are cosine similarities divided by it. */
  temperature: number;
  labels?: BatchLabels;
}

/**
 * The loss as weights of the log-probabilities: loss = -Σ_ij W_ij log softmax_j(logits_i), with
 * W_ij = [j a positive of i] / (positives of i · n). Row-major [n, n]; the ONNX trainer's in-graph loss
 * (onnx/lossGraph.ts) takes the same weights.
 */
export function infoNceWeights(n: number, labels: BatchLabels): Float32Array {
  const mask = sameLabelMask(n, labels);
  for (let i = 0; i < n; i++) {
    let positives = 0;
    for (let j = 0; j < n; j++) positives += mask[i * n + j]!;
    for (let j = 0; j < n; j++) mask[i * n + j]! /= positives * n;
  }
  return mask;
}

/** Throws unless the temperature is usable (> 0). */
export function checkTemperature(temperature: number): void {
  if (!(temperature > 0)) throw new Error(`InfoNCE loss: temperature must be > 0, got ${temperature}.`);
}

export function infoNceLoss(queries: Tensor2D, positives: Tensor2D, options: InfoNceOptions): Scalar {
  const n = checkPairShapes(queries, positives, options.labels, 'InfoNCE loss');
  checkTemperature(options.temperature);
  const weights = infoNceWeights(n, options.labels);
  return tf.tidy(() => {
    const logits = tf.div(cosineSimilarities(queries, positives), options.temperature);
    const logProb = tf.logSoftmax(logits, 1);
    return tf.neg(tf.sum(tf.mul(logProb, tf.tensor2d(weights, [n, n])))) as Scalar;
  });
}
