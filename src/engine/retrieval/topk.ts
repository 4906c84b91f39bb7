/**
 * Bounded top-k selection for many queries at once, without sorting whole
 * rows of similarities.
 *
 * Ranking rule (used everywhere in retrieval): a candidate (score s, index i)
 * ranks before (t, j) when s > t, or s === t and i < j. Equal similarities
 * are thus broken by the lower image index, which makes every result
 * independent of the order candidates arrive in (chunking, threads).
 *
 * Each query owns a buffer of 2k slots. Candidates that beat the query's
 * threshold are appended; when the buffer is full, a partial selection
 * (quickselect, O(k) on average) keeps the k best and the threshold becomes
 * the k-th best of them. Until the first selection the threshold admits
 * everything. Most candidates of a long row are rejected by one comparison.
 */

/** True when (s, i) ranks before (t, j) under the rule above. */
export function ranksBefore(s: number, i: number, t: number, j: number): boolean {
  return s > t || (s === t && i < j);
}

/**
 * Rearrange [lo, hi) of the paired arrays so that its first `k` entries are
 * its k best (in no particular order).
 */
export function selectBest(scores: Float32Array, ids: Int32Array, lo: number, hi: number, k: number): void {
  let left = lo;
  let right = hi - 1;
  const target = lo + k - 1; // position of the k-th best once selected
  if (k <= 0 || k >= hi - lo) return;
  while (right > left) {
    // Median of three as pivot: deterministic, and no quadratic case on sorted input.
    const mid = (left + right) >>> 1;
    const p = medianOfThree(scores, ids, left, mid, right);
    const ps = scores[p]!;
    const pi = ids[p]!;
    swap(scores, ids, p, right);
    let store = left;
    for (let x = left; x < right; x++) {
      if (ranksBefore(scores[x]!, ids[x]!, ps, pi)) {
        swap(scores, ids, x, store);
        store++;
      }
    }
    swap(scores, ids, store, right);
    if (store === target) return;
    if (store < target) left = store + 1;
    else right = store - 1;
  }
}

function medianOfThree(scores: Float32Array, ids: Int32Array, a: number, b: number, c: number): number {
  const ab = ranksBefore(scores[a]!, ids[a]!, scores[b]!, ids[b]!);
  const bc = ranksBefore(scores[b]!, ids[b]!, scores[c]!, ids[c]!);
  if (ab === bc) return b;
  const ac = ranksBefore(scores[a]!, ids[a]!, scores[c]!, ids[c]!);
  return ab === ac ? c : a;
}

function swap(scores: Float32Array, ids: Int32Array, a: number, b: number): void {
  const s = scores[a]!;
  scores[a] = scores[b]!;
  scores[b] = s;
  const i = ids[a]!;
  ids[a] = ids[b]!;
  ids[b] = i;
}

/** Sort [lo, hi) of the paired arrays best first. Used on k entries, never on whole rows. */
export function sortBest(scores: Float32Array, ids: Int32Array, lo: number, hi: number): void {
  const order = Array.from({ length: hi - lo }, (_, i) => lo + i);
  order.sort((a, b) =>
    ranksBefore(scores[a]!, ids[a]!, scores[b]!, ids[b]!)
      ? -1
      : ranksBefore(scores[b]!, ids[b]!, scores[a]!, ids[a]!)
        ? 1
        : 0,
  );
  const s = order.map((o) => scores[o]!);
  const d = order.map((o) => ids[o]!);
  for (let x = 0; x < order.length; x++) {
    scores[lo + x] = s[x]!;
    ids[lo + x] = d[x]!;
  }
}

/** The k best of each query, best first; fewer than k where fewer candidates came (rest padded with -1 / NaN). */
export interface TopKResult {
  k: number;
  /** Query q's j-th neighbour is at q * k + j. */
  indices: Int32Array;
  scores: Float32Array;
  /** How many of the k slots of each query are filled. */
  counts: Int32Array;
}

/** The per-query top-k state as plain arrays, so it can cross a worker boundary. */
export interface TopKState {
  queries: number;
  k: number;
  scores: Float32Array;
  ids: Int32Array;
  fill: Int32Array;
  thresholdScore: Float32Array;
  thresholdId: Int32Array;
}

export class TopKTable {
  readonly queries: number;
  readonly k: number;
  private readonly capacity: number;
  private readonly scores: Float32Array;
  private readonly ids: Int32Array;
  private readonly fill: Int32Array;
  /** The score a candidate must beat (with `thresholdId` breaking ties); -Infinity until the first selection. */
  readonly thresholdScore: Float32Array;
  readonly thresholdId: Int32Array;

  constructor(queries: number, k: number, state?: TopKState) {
    if (!Number.isInteger(k) || k < 1) throw new Error(`top-k needs k >= 1, got ${k}`);
    this.queries = queries;
    this.k = k;
    this.capacity = 2 * k;
    if (state) {
      if (state.queries !== queries || state.k !== k) throw new Error('top-k state does not match the table');
      this.scores = state.scores;
      this.ids = state.ids;
      this.fill = state.fill;
      this.thresholdScore = state.thresholdScore;
      this.thresholdId = state.thresholdId;
      return;
    }
    this.scores = new Float32Array(queries * this.capacity);
    this.ids = new Int32Array(queries * this.capacity);
    this.fill = new Int32Array(queries);
    this.thresholdScore = new Float32Array(queries).fill(-Infinity);
    this.thresholdId = new Int32Array(queries).fill(0x7fffffff);
  }

  /** Offer a candidate; returns true when the query's threshold changed. */
  offer(q: number, score: number, id: number): boolean {
    if (!ranksBefore(score, id, this.thresholdScore[q]!, this.thresholdId[q]!)) return false;
    const base = q * this.capacity;
    let f = this.fill[q]!;
    this.scores[base + f] = score;
    this.ids[base + f] = id;
    f++;
    if (f < this.capacity) {
      this.fill[q] = f;
      return false;
    }
    this.compact(q);
    return true;
  }

  private compact(q: number): void {
    const base = q * this.capacity;
    selectBest(this.scores, this.ids, base, base + this.capacity, this.k);
    // The k-th best is the worst of the first k after selection.
    let worst = base;
    for (let x = base + 1; x < base + this.k; x++) {
      if (ranksBefore(this.scores[worst]!, this.ids[worst]!, this.scores[x]!, this.ids[x]!)) worst = x;
    }
    this.thresholdScore[q] = this.scores[worst]!;
    this.thresholdId[q] = this.ids[worst]!;
    this.fill[q] = this.k;
  }

  /** Fold another table's candidates for the same queries into this one. */
  merge(other: TopKTable): void {
    if (other.queries !== this.queries || other.k !== this.k)
      throw new Error('cannot merge top-k tables of different shapes');
    for (let q = 0; q < this.queries; q++) {
      const base = q * other.capacity;
      for (let x = 0; x < other.fill[q]!; x++) this.offer(q, other.scores[base + x]!, other.ids[base + x]!);
    }
  }

  /** Sorted results, best first. */
  result(): TopKResult {
    const { k } = this;
    const indices = new Int32Array(this.queries * k).fill(-1);
    const scores = new Float32Array(this.queries * k).fill(NaN);
    const counts = new Int32Array(this.queries);
    for (let q = 0; q < this.queries; q++) {
      const base = q * this.capacity;
      const f = this.fill[q]!;
      selectBest(this.scores, this.ids, base, base + f, k);
      const m = Math.min(k, f);
      sortBest(this.scores, this.ids, base, base + m);
      for (let x = 0; x < m; x++) {
        indices[q * k + x] = this.ids[base + x]!;
        scores[q * k + x] = this.scores[base + x]!;
      }
      counts[q] = m;
    }
    return { k, indices, scores, counts };
  }

  state(): TopKState {
    return {
      queries: this.queries,
      k: this.k,
      scores: this.scores,
      ids: this.ids,
      fill: this.fill,
      thresholdScore: this.thresholdScore,
      thresholdId: this.thresholdId,
    };
  }
}
