/**
 * Pieces shared by the embedding losses: L2 normalisation and the
 * same-label masks built from a batch's labels.
 */
import { tf, type Tensor2D } from '../../backend/tf';

/**
 * Labels of the pairs in a batch (e.g. SOP class ids), one per pair.
 * Absent: every pair is its own class (only the paired positive matches).
 */
export type BatchLabels = ArrayLike<number> | undefined;

/** Same as torch.nn.functional.normalize's eps: a zero vector stays zero instead of NaN. */
export const NORM_EPS = 1e-12;

/**
 * Rows divided by their L2 norm. Written as x * rsqrt(max(|x|^2, eps^2)) so
 * that the gradient stays finite for a zero row (tf.norm's is not at 0).
 */
export function l2NormalizeRows(x: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    const squared = tf.sum(tf.square(x), 1, true);
    return tf.mul(x, tf.rsqrt(tf.maximum(squared, NORM_EPS * NORM_EPS))) as Tensor2D;
  });
}

/** Cosine similarities [n, n] between every query and every positive. */
export function cosineSimilarities(queries: Tensor2D, positives: Tensor2D): Tensor2D {
  return tf.tidy(() => {
    // An explicit transpose then a plain matMul: transposeB is ~10x slower on wasm.
    return tf.matMul(l2NormalizeRows(queries), tf.transpose(l2NormalizeRows(positives)));
  });
}

/** Checks the two embedding batches and the labels agree in shape; returns n. */
export function checkPairShapes(queries: Tensor2D, positives: Tensor2D, labels: BatchLabels, where: string): number {
  const [n, d] = queries.shape;
  if (positives.shape[0] !== n || positives.shape[1] !== d) {
    throw new Error(
      `${where}: queries are [${queries.shape}] but positives are [${positives.shape}]; they must be pairs of the same size.`,
    );
  }
  checkLabelCount(n, labels, where);
  return n;
}

/** Throws unless there is one label per pair (or none). */
export function checkLabelCount(n: number, labels: BatchLabels, where: string): void {
  if (labels !== undefined && labels.length !== n) {
    throw new Error(`${where}: ${labels.length} labels for a batch of ${n} pairs; give one label per pair (or none).`);
  }
}

/**
 * mask[i][j] = 1 where positive j has the same label as query i (with no
 * labels: j === i), as a row-major Float32Array. Pair i always matches itself.
 */
export function sameLabelMask(n: number, labels: BatchLabels): Float32Array {
  const mask = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      mask[i * n + j] = i === j || (labels !== undefined && labels[i] === labels[j]) ? 1 : 0;
    }
  }
  return mask;
}
