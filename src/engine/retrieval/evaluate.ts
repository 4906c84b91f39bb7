/**
 * The SOP protocol on embeddings: L2-normalise, each image queries all the
 * other images by cosine similarity (itself excluded), then Recall@K and
 * MAP@R over the valid queries (see metrics.ts), plus each query's nearest
 * neighbours and the rank of its first correct match for the results panel.
 *
 * Ties: equal similarities rank the lower image index first (topk.ts).
 */
import { rankAllAgainstAll, type AllPairsOptions } from './allPairs';
import type { EmbeddingMatrix } from './embeddings';
import { queryOutcomes, SOP_RECALL_KS, summariseMetrics, type QueryOutcomes, type RetrievalMetrics } from './metrics';
import type { TopKResult } from './topk';

export const DEFAULT_NEIGHBOURS = 20;

export interface EvaluateOptions {
  /** K values of Recall@K; default 1, 10, 100, 1000. */
  recallKs?: readonly number[];
  /** Neighbours kept per query for display; default 20. */
  neighbours?: number;
  /** Ranks of the first correct match are exact up to this; default the largest K. */
  rankCap?: number;
  blockSize?: number;
  threads?: AllPairsOptions['threads'];
  signal?: AbortSignal;
  onProgress?: AllPairsOptions['onProgress'];
}

export interface RetrievalEvaluation extends RetrievalMetrics {
  numClasses: number;
  recallKs: number[];
  rankCap: number;
  outcomes: QueryOutcomes;
  /** Each query's nearest other images (original indices), best first. */
  neighbours: TopKResult;
  /** 1 where neighbour `q * k + j` is of the query's class. */
  neighbourSameClass: Uint8Array;
  seconds: number;
  threads: number;
  threadNote?: string;
  peakTfBytes: number;
}

export async function evaluateRetrieval(
  emb: EmbeddingMatrix,
  labels: ArrayLike<number>,
  options: EvaluateOptions = {},
): Promise<RetrievalEvaluation> {
  const started = performance.now();
  const recallKs = [...(options.recallKs ?? SOP_RECALL_KS)].sort((a, b) => a - b);
  if (recallKs.length === 0) throw new Error('at least one Recall@K value is needed');
  if (emb.n < 2) throw new Error(`the protocol needs at least 2 images, got ${emb.n}`);
  const maxK = Math.max(...recallKs);
  const rankCap = options.rankCap ?? maxK;
  // K beyond the gallery (n - 1 images) needs ranks only up to the gallery size.
  if (rankCap < Math.min(maxK, emb.n - 1)) throw new Error(`rankCap ${rankCap} is below the largest K (${maxK})`);

  const ranked = await rankAllAgainstAll(emb, labels, {
    k: options.neighbours ?? DEFAULT_NEIGHBOURS,
    rankCap,
    ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const outcomes = queryOutcomes(ranked);
  const summary = summariseMetrics(outcomes, recallKs, rankCap);

  const { k, indices } = ranked.neighbours;
  const neighbourSameClass = new Uint8Array(indices.length);
  for (let q = 0; q < emb.n; q++) {
    for (let j = 0; j < k; j++) {
      const g = indices[q * k + j]!;
      neighbourSameClass[q * k + j] = g >= 0 && labels[g] === labels[q] ? 1 : 0;
    }
  }
  return {
    ...summary,
    numClasses: new Set(Array.from(labels)).size,
    recallKs,
    rankCap,
    outcomes,
    neighbours: ranked.neighbours,
    neighbourSameClass,
    seconds: (performance.now() - started) / 1000,
    threads: ranked.threads,
    ...(ranked.threadNote ? { threadNote: ranked.threadNote } : {}),
    peakTfBytes: ranked.peakTfBytes,
  };
}
