/**
 * Hard-negative mining for the m_per_product sampler: which training
 * products the model confuses. Each product is the mean of its query
 * images' L2-normalised embeddings; its neighbours are the other products
 * whose means are nearest by cosine. The sampler then fills batches with
 * products that follow each other in these lists.
 *
 * Mined on the TRAINING pairs, not from the evaluation's neighbours: the
 * evaluation runs on val_data_path (SOP's test split), whose products never
 * appear in a training batch, so its neighbours say nothing about how to
 * batch the training products (and steering training by test results would
 * be leakage).
 */
import * as fs from 'node:fs';
import { writeJsonAtomic } from '../../shared/fs/atomic';

export interface ImageEmbeddings {
  data: Float32Array;
  n: number;
  d: number;
}

/**
 * product -> its k nearest other products (nearest first, ties by index).
 * productOfImage[i] is image i's product in [0, numProducts).
 */
export function productNeighbours(
  emb: ImageEmbeddings,
  productOfImage: ArrayLike<number>,
  numProducts: number,
  k: number,
): Map<number, number[]> {
  const { data, n, d } = emb;
  const centroids = new Float32Array(numProducts * d);
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += data[i * d + j]! ** 2;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    const p = productOfImage[i]!;
    for (let j = 0; j < d; j++) centroids[p * d + j]! += data[i * d + j]! * inv;
  }
  for (let p = 0; p < numProducts; p++) {
    let norm = 0;
    for (let j = 0; j < d; j++) norm += centroids[p * d + j]! ** 2;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < d; j++) centroids[p * d + j]! *= inv;
  }
  const out = new Map<number, number[]>();
  if (k < 1) return out;
  for (let p = 0; p < numProducts; p++) {
    // The k best kept sorted by insertion: no sort of a whole row (SOP has 11,318 training products).
    const best: Array<{ q: number; s: number }> = [];
    for (let q = 0; q < numProducts; q++) {
      if (q === p) continue;
      let s = 0;
      for (let j = 0; j < d; j++) s += centroids[p * d + j]! * centroids[q * d + j]!;
      if (best.length === k && s <= best[k - 1]!.s) continue;
      let at = best.length;
      // Equal similarities keep the lower index first (q ascends, so a tie goes after).
      while (at > 0 && best[at - 1]!.s < s) at--;
      best.splice(at, 0, { q, s });
      if (best.length > k) best.pop();
    }
    out.set(
      p,
      best.map((b) => b.q),
    );
  }
  return out;
}

/** The file a run keeps its mined neighbours in, so a resumed run batches as the first one did (src/shared/runs). */
import { HARD_NEGATIVES_FILE } from '../../shared/runs/runFolder';
export { HARD_NEGATIVES_FILE };

interface SavedNeighbours {
  /** The product labels in the sampler's product order, to refuse a file mined on other data. */
  products: string[];
  neighbours: number[][];
}

export function saveProductNeighbours(file: string, productKeys: readonly string[], nb: Map<number, number[]>): void {
  const body: SavedNeighbours = { products: [...productKeys], neighbours: productKeys.map((_, p) => nb.get(p) ?? []) };
  writeJsonAtomic(file, body);
}

/** The saved neighbours when the file exists and was mined on the same products; else undefined. */
export function loadProductNeighbours(file: string, productKeys: readonly string[]): Map<number, number[]> | undefined {
  if (!fs.existsSync(file)) return undefined;
  let body: SavedNeighbours;
  try {
    body = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedNeighbours;
  } catch {
    return undefined;
  }
  if (!Array.isArray(body.products) || body.products.length !== productKeys.length) return undefined;
  if (body.products.some((k, i) => k !== productKeys[i])) return undefined;
  return new Map(body.neighbours.map((nb, p) => [p, nb]));
}
