/**
 * Retrieval metrics from the ranks of each query's class members.
 *
 * - A query is valid when its class has another image (R >= 1, where R is the
 *   number of other images of its class). Queries of single-image classes do
 *   not count, in any metric.
 * - Recall@K: share of valid queries whose K nearest (the query excluded)
 *   contain an image of its class, i.e. whose best member has rank <= K. A K
 *   larger than the gallery (n - 1 images) is clipped to it, where every valid
 *   query succeeds, so Recall@K is 1 there.
 * - MAP@R (Musgrave, Belongie, Lim, "A Metric Learning Reality Check", 2020):
 *   AP@R(q) = (1/R) * sum_{i=1..R} P(i) * rel(i), P(i) the precision of the
 *   first i results; MAP@R is its mean over valid queries. With the members'
 *   ranks r_1 < r_2 < ..., a member at rank r_j <= R contributes j / r_j.
 */

/** Per query, the ranks of its class members (see AllPairsResult.memberRanks: 0 = beyond its cap). */
export interface MemberRankTable {
  memberOffset: Int32Array;
  memberRanks: Int32Array;
  /** The best member's rank is known up to max(rankCap, R). */
  rankCap: number;
}

export const SOP_RECALL_KS: readonly number[] = [1, 10, 100, 1000];

export interface QueryOutcomes {
  /**
   * Rank of the first same-class image; -1: no other image of its class (not a valid query); 0: beyond the rank cap.
   */
  firstCorrectRank: Int32Array;
  /** AP@R per query; NaN for queries that are not valid. */
  apAtR: Float64Array;
}

export function queryOutcomes(table: MemberRankTable): QueryOutcomes {
  const n = table.memberOffset.length - 1;
  const firstCorrectRank = new Int32Array(n);
  const apAtR = new Float64Array(n);
  for (let q = 0; q < n; q++) {
    const lo = table.memberOffset[q]!;
    const r = table.memberOffset[q + 1]! - lo;
    if (r === 0) {
      firstCorrectRank[q] = -1;
      apAtR[q] = NaN;
      continue;
    }
    firstCorrectRank[q] = table.memberRanks[lo]!;
    let sum = 0;
    for (let j = 0; j < r; j++) {
      const rank = table.memberRanks[lo + j]!;
      if (rank > 0 && rank <= r) sum += (j + 1) / rank;
    }
    apAtR[q] = sum / r;
  }
  return { firstCorrectRank, apAtR };
}

export interface RetrievalMetrics {
  /** `recall@K` for each K asked, and `map@r`; fractions in [0, 1]. */
  metrics: Record<string, number>;
  numImages: number;
  numValidQueries: number;
  /** n - 1: how many images each query searches. */
  gallerySize: number;
  /** The K values that exceed the gallery (their recall is trivially 1). */
  clippedKs: number[];
}

export function summariseMetrics(
  outcomes: QueryOutcomes,
  recallKs: readonly number[],
  rankCap: number,
): RetrievalMetrics {
  const n = outcomes.firstCorrectRank.length;
  const gallerySize = Math.max(0, n - 1);
  for (const k of recallKs) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`Recall@K needs positive integer K values, got ${k}`);
    if (Math.min(k, gallerySize) > rankCap)
      throw new Error(`internal: Recall@${k} needs ranks counted up to ${k}, but the cap was ${rankCap}`);
  }
  let valid = 0;
  let apSum = 0;
  const hits = recallKs.map(() => 0);
  for (let q = 0; q < n; q++) {
    const rank = outcomes.firstCorrectRank[q]!;
    if (rank < 0) continue;
    valid++;
    apSum += outcomes.apAtR[q]!;
    if (rank === 0) continue;
    recallKs.forEach((k, i) => {
      if (rank <= Math.min(k, gallerySize)) hits[i]!++;
    });
  }
  if (valid === 0) {
    throw new Error(
      `no valid query among ${n} images: every class has a single image, so no query has a correct match to find. Recall@K and MAP@R need classes with two or more images.`,
    );
  }
  const metrics: Record<string, number> = {};
  recallKs.forEach((k, i) => {
    metrics[`recall@${k}`] = hits[i]! / valid;
  });
  metrics['map@r'] = apSum / valid;
  return {
    metrics,
    numImages: n,
    numValidQueries: valid,
    gallerySize,
    clippedKs: recallKs.filter((k) => k > gallerySize),
  };
}
