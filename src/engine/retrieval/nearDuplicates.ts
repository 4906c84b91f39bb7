/**
 * Near-duplicate images across train and test from embeddings: every test
 * image is searched against the training images (exact cosine search), and
 * pairs at or above the threshold are reported. Re-encoded, resized or
 * lightly edited copies of a training image land here while differing in
 * bytes. The default threshold is measured on the sample set (README,
 * "Data health"): augmented views of one product and distinct products stay
 * below it, planted copies are above it.
 */
import type { EmbeddingMatrix } from './embeddings';
import { prepareGallery, searchExact } from './exactSearch';

/** See the README's "Data health" section for the measurement behind it. */
export const DEFAULT_NEAR_DUPLICATE_THRESHOLD = 0.99;

/** Nearest training images looked at per test image: more than a handful of copies of one image is rare. */
const CANDIDATES = 10;

export interface IndexPair {
  train: number;
  test: number;
  cosine: number;
}

/** Pairs (train index, test index) with cosine >= threshold, most similar first. */
export function crossSplitNearDuplicates(
  train: EmbeddingMatrix,
  test: EmbeddingMatrix,
  threshold: number,
): IndexPair[] {
  if (train.n === 0 || test.n === 0) return [];
  const found = searchExact(test, prepareGallery(train), { k: Math.min(CANDIDATES, train.n) });
  const pairs: IndexPair[] = [];
  for (let q = 0; q < test.n; q++) {
    for (let j = 0; j < found.counts[q]!; j++) {
      const cosine = found.scores[q * found.k + j]!;
      if (cosine >= threshold) pairs.push({ train: found.indices[q * found.k + j]!, test: q, cosine });
    }
  }
  return pairs.sort((a, b) => b.cosine - a.cosine || a.test - b.test || a.train - b.train);
}
