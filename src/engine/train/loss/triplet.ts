/**
 * Triplet loss with the hardest in-batch negative, on cosine distance.
 *
 * d(a, b) = 1 - cos(a, b). For query i: the positive is its paired p_i; the
 * negatives are the batch's positives p_j of a different label (without
 * labels: every j != i); the hardest is the one nearest to q_i. Then
 *   loss_i = max(0, d(q_i, p_i) - d(q_i, p_hardest) + margin)
 * averaged over the queries that have at least one negative in the batch.
 * A batch in which no query has a negative (all one label) gives 0, with a
 * zero gradient: it carries no triplet signal.
 */
import { tf, type Tensor2D } from '../../backend/tf';
import type { Scalar } from '../../backend/tf';
import { checkPairShapes, cosineSimilarities, sameLabelMask, type BatchLabels } from './common';

export interface TripletOptions {
  /** > 0, on the cosine-distance scale (0..2). */
  margin: number;
  labels?: BatchLabels;
}

/**
 * Added to the distance of non-negatives so the row minimum never picks
 * them. Cosine distances are at most 2 and the margin is at most 2, so a
 * row whose only candidates are non-negatives gets a hinge of
 * d_pos - (d + EXCLUDED) + margin < 0, i.e. nothing.
 */
const EXCLUDED = 16;

export function tripletLoss(queries: Tensor2D, positives: Tensor2D, options: TripletOptions): Scalar {
  const n = checkPairShapes(queries, positives, options.labels, 'Triplet loss');
  if (!(options.margin > 0)) {
    throw new Error(`Triplet loss: margin must be > 0, got ${options.margin}.`);
  }
  const same = sameLabelMask(n, options.labels);
  const diagonal = new Float32Array(n * n);
  const rowHasNegative = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    diagonal[i * n + i] = 1;
    for (let j = 0; j < n; j++) if (same[i * n + j] === 0) rowHasNegative[i] = 1;
  }
  const rowsWithNegative = rowHasNegative.reduce((a, b) => a + b, 0);
  return tf.tidy(() => {
    const distance = tf.sub(1, cosineSimilarities(queries, positives));
    const positiveDistance = tf.sum(tf.mul(distance, tf.tensor2d(diagonal, [n, n])), 1);
    const hardestNegative = tf.min(tf.add(distance, tf.mul(tf.tensor2d(same, [n, n]), EXCLUDED)), 1);
    const hinge = tf.relu(tf.add(tf.sub(positiveDistance, hardestNegative), options.margin));
    const counted = tf.sum(tf.mul(hinge, tf.tensor1d(rowHasNegative)));
    return tf.div(counted, Math.max(1, rowsWithNegative)) as Scalar;
  });
}
