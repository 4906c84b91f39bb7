/**
 * Error analysis of a fine-tuning: two benchmarks of the same images (before
 * and after), compared query by query from their neighbours files
 * (first-correct ranks and top-K neighbours, see
 * src/engine/retrieval/neighboursFile.ts).
 *
 * - Recall@1 per super class, before and after, over the queries valid in both
 *   (a query is valid when its product has another image).
 * - The queries that improved and regressed most. A query's first-correct rank
 *   r (beyond the rank cap: cap + 1) changes by log2(r_before / r_after), so
 *   50 -> 1 (5.6) ranks above 1000 -> 900 (0.15): what matters to a user is
 *   how many times closer the right product came. Ties: larger change in
 *   ranks, then lower image index.
 * - The product pairs most often confused: a valid query whose nearest
 *   neighbour is another product confuses the (unordered) pair of products;
 *   pairs are counted after fine-tuning (with the count before beside them).
 *
 * Pure functions on arrays, no Node built-ins: the CLI (`vembed benchmark
 * compare`) and the results panel compute the same numbers with this module.
 */

/** One benchmark's ranking of every image against the others. */
export interface RankedQueries {
  /** Per image: 1-based rank of the first image of its product; 0 = beyond rankCap; -1 = not a valid query. */
  firstCorrectRank: ArrayLike<number>;
  /** Row-major [images, k] nearest neighbours (image indexes), best first; -1 = empty slot. */
  indices: ArrayLike<number>;
  k: number;
  rankCap: number;
}

export interface AnalysisImage {
  label: number | string;
  superClass?: string;
}

export interface SuperClassRecall {
  superClass: string;
  /** Queries valid in both benchmarks. */
  queries: number;
  /** Recall@1 as fractions in [0, 1]. */
  before: number;
  after: number;
}

export interface QueryChange {
  /** Image index (row of embeddings.npy / metadata.jsonl). */
  image: number;
  /** First-correct rank; null when beyond the rank cap. */
  before: number | null;
  after: number | null;
}

export interface ConfusedPair {
  /** The two products, in label order (numbers before strings). */
  a: number | string;
  b: number | string;
  /** Valid queries of either product whose nearest neighbour is of the other one, after fine-tuning. */
  count: number;
  /** The same count before. */
  countBefore: number;
  /** The first such query (lowest image index) after fine-tuning, and its nearest neighbour. */
  example: { query: number; neighbour: number };
}

export interface ErrorAnalysis {
  /** Queries valid in both benchmarks. */
  numQueries: number;
  /** Ranks beyond this are "beyond the cap" (the lower cap of the two). */
  rankCap: number;
  recallAt1: { before: number; after: number };
  superClasses: SuperClassRecall[];
  improved: QueryChange[];
  regressed: QueryChange[];
  confusedPairs: ConfusedPair[];
}

/** The per-super-class table's rows as every view shows them: each super class, then "all". */
export function superClassTable(
  a: Pick<ErrorAnalysis, 'superClasses' | 'numQueries' | 'recallAt1'>,
): SuperClassRecall[] {
  return [...a.superClasses, { superClass: 'all', queries: a.numQueries, ...a.recallAt1 }];
}

export interface ErrorAnalysisOptions {
  /** Queries listed as improved and as regressed; default 20. */
  topQueries?: number;
  /** Confused pairs listed; default 20. */
  topPairs?: number;
}

/** The super class of images without one. */
export const NO_SUPER_CLASS = '(none)';

export function analyseErrors(
  before: RankedQueries,
  after: RankedQueries,
  images: readonly AnalysisImage[],
  options: ErrorAnalysisOptions = {},
): ErrorAnalysis {
  const n = images.length;
  if (before.firstCorrectRank.length !== n || after.firstCorrectRank.length !== n)
    throw new Error(
      `the benchmarks cover different image sets (${before.firstCorrectRank.length} and ${after.firstCorrectRank.length} images, ${n} described)`,
    );
  const rankCap = Math.min(before.rankCap, after.rankCap);
  // Ranks beyond either cap compare as cap + 1.
  const rankOf = (r: number) => (r === 0 || r > rankCap ? rankCap + 1 : r);
  const shown = (r: number) => (r === 0 || r > rankCap ? null : r);

  const perClass = new Map<string, { queries: number; before: number; after: number }>();
  const changes: { image: number; score: number; diff: number }[] = [];
  let valid = 0;
  let hitsBefore = 0;
  let hitsAfter = 0;
  for (let q = 0; q < n; q++) {
    const rb = before.firstCorrectRank[q]!;
    const ra = after.firstCorrectRank[q]!;
    if (rb < 0 || ra < 0) continue;
    valid++;
    const name = images[q]!.superClass ?? NO_SUPER_CLASS;
    const c = perClass.get(name) ?? { queries: 0, before: 0, after: 0 };
    c.queries++;
    if (rb === 1) {
      c.before++;
      hitsBefore++;
    }
    if (ra === 1) {
      c.after++;
      hitsAfter++;
    }
    perClass.set(name, c);
    const b = rankOf(rb);
    const a = rankOf(ra);
    if (a !== b) changes.push({ image: q, score: Math.log2(b / a), diff: b - a });
  }
  const top = options.topQueries ?? 20;
  const change = (c: { image: number }): QueryChange => ({
    image: c.image,
    before: shown(before.firstCorrectRank[c.image]!),
    after: shown(after.firstCorrectRank[c.image]!),
  });
  const improved = changes
    .filter((c) => c.score > 0)
    .sort((x, y) => y.score - x.score || y.diff - x.diff || x.image - y.image)
    .slice(0, top)
    .map(change);
  const regressed = changes
    .filter((c) => c.score < 0)
    .sort((x, y) => x.score - y.score || x.diff - y.diff || x.image - y.image)
    .slice(0, top)
    .map(change);

  const superClasses = [...perClass.entries()]
    .map(([superClass, c]) => ({
      superClass,
      queries: c.queries,
      before: c.before / c.queries,
      after: c.after / c.queries,
    }))
    .sort((x, y) => compareLabels(x.superClass, y.superClass));

  return {
    numQueries: valid,
    rankCap,
    recallAt1: { before: valid ? hitsBefore / valid : 0, after: valid ? hitsAfter / valid : 0 },
    superClasses,
    improved,
    regressed,
    confusedPairs: confusedPairs(before, after, images, options.topPairs ?? 20),
  };
}

function confusedPairs(
  before: RankedQueries,
  after: RankedQueries,
  images: readonly AnalysisImage[],
  top: number,
): ConfusedPair[] {
  const count = (
    t: RankedQueries,
    q: number,
  ): { key: string; a: number | string; b: number | string; nb: number } | null => {
    if (t.firstCorrectRank[q]! < 0 || t.k < 1) return null;
    const nb = t.indices[q * t.k]!;
    if (nb < 0) return null;
    const la = images[q]!.label;
    const lb = images[nb]!.label;
    if (la === lb) return null;
    const [a, b] = compareLabels(la, lb) <= 0 ? [la, lb] : [lb, la];
    return { key: `${typeof a}:${String(a)}\u0000${typeof b}:${String(b)}`, a, b, nb };
  };
  const pairs = new Map<string, ConfusedPair>();
  const countsBefore = new Map<string, number>();
  for (let q = 0; q < images.length; q++) {
    // Queries valid in both, like the rest of the analysis.
    if (before.firstCorrectRank[q]! < 0 || after.firstCorrectRank[q]! < 0) continue;
    const x = count(after, q);
    if (x) {
      const p = pairs.get(x.key);
      if (p) p.count++;
      else pairs.set(x.key, { a: x.a, b: x.b, count: 1, countBefore: 0, example: { query: q, neighbour: x.nb } });
    }
    const y = count(before, q);
    if (y) countsBefore.set(y.key, (countsBefore.get(y.key) ?? 0) + 1);
  }
  for (const [key, p] of pairs) p.countBefore = countsBefore.get(key) ?? 0;
  return [...pairs.values()]
    .sort(
      (x, y) =>
        y.count - x.count || y.countBefore - x.countBefore || compareLabels(x.a, y.a) || compareLabels(x.b, y.b),
    )
    .slice(0, top);
}

/** Numbers in numeric order before strings in code-point order (so the output does not depend on the locale). */
export function compareLabels(x: number | string, y: number | string): number {
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'number') return -1;
  if (typeof y === 'number') return 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The super class of an image record (a line of metadata.jsonl), as a name:
 * SOP lays images out as `<class>_final/<file>`, so a record in such a folder
 * is named by it ("bicycle"), rather than by SOP's numeric `super_class_id`
 * (1..12, which says nothing on screen). Otherwise its `super_class` (or
 * `superClass`) field, else the folder of its path.
 */
export function superClassOfRecord(record: { path: string; [key: string]: unknown }): string | undefined {
  const given = record.super_class ?? record.superClass;
  const parts = record.path.split(/[\\/]/);
  const folder = parts.length >= 2 ? parts[parts.length - 2]! : undefined;
  if (folder && /.+_final$/.test(folder) && (given === undefined || typeof given === 'number'))
    return folder.replace(/_final$/, '');
  if (typeof given === 'string' || typeof given === 'number') return String(given);
  return folder || undefined;
}
