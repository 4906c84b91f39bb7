/**
 * How the all-against-all evaluation cuts its work.
 *
 * Images are reordered so that each class is contiguous (by class id, then
 * original index), and cut into blocks of at most `blockSize` images at class
 * boundaries where possible. Only block pairs (i <= j) are computed: the
 * similarity matrix is symmetric, so each pair of images gets exactly one
 * computed similarity, used for both directions (half the matMul work, and
 * both directions see the very same float).
 *
 * Counting ranks needs, for each query, the similarities to its own class
 * first (see allPairsEngine.ts). Pass 1 computes the block pairs that hold
 * same-class pairs. A diagonal block whose classes all lie inside it is
 * "self-contained": its queries' class similarities are all in that block,
 * so it is finished in pass 1. Blocks touched by a class larger than a block
 * are recomputed in pass 2 (the same inputs give the same floats).
 */

export interface BlockTask {
  /** Row block. */
  i: number;
  /** Column block, >= i. */
  j: number;
  /**
   * extract: only record same-class similarities; count: rank against known class similarities; both: self-contained
   * diagonal block.
   */
  mode: 'extract' | 'count' | 'extract+count';
}

export interface BlockPlan {
  n: number;
  /** Position (in class order) -> original image index. */
  order: Int32Array;
  /** Position -> dense class number (0..numClasses-1), nondecreasing. */
  classOf: Int32Array;
  /** Dense class -> first position; numClasses + 1 entries. */
  classStart: Int32Array;
  numClasses: number;
  /** Block b holds positions [blockStart[b], blockStart[b + 1]). */
  blockStart: Int32Array;
  /** Position p's other-class-member slots are [memberOffset[p], memberOffset[p + 1]). */
  memberOffset: Int32Array;
  pass1: BlockTask[];
  pass2: BlockTask[];
}

export function planBlocks(labels: ArrayLike<number>, blockSize: number): BlockPlan {
  if (!Number.isInteger(blockSize) || blockSize < 1)
    throw new Error(`block size must be a positive integer, got ${blockSize}`);
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(labels[i]!)) throw new Error(`label of image ${i} is ${labels[i]}; class ids must be numbers`);
  }
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => labels[a]! - labels[b]! || a - b);

  const classOf = new Int32Array(n);
  const starts: number[] = [];
  for (let p = 0; p < n; p++) {
    if (p === 0 || labels[order[p]!] !== labels[order[p - 1]!]) starts.push(p);
    classOf[p] = starts.length - 1;
  }
  starts.push(n);
  const classStart = Int32Array.from(starts);
  const numClasses = starts.length - 1;

  const blockStarts: number[] = [0];
  for (let start = 0; start < n;) {
    const limit = start + blockSize;
    let end: number;
    if (limit >= n) end = n;
    else {
      const c = classOf[limit]!;
      // Cut before the class that crosses the limit, unless that class began at or before `start` (bigger than a
      // block): then split it.
      end = classStart[c]! > start ? classStart[c]! : limit;
    }
    blockStarts.push(end);
    start = end;
  }
  if (n === 0) blockStarts.length = 1;
  const blockStart = Int32Array.from(blockStarts);
  const numBlocks = blockStart.length - 1;
  const blockOf = new Int32Array(n);
  for (let b = 0; b < numBlocks; b++) blockOf.fill(b, blockStart[b]!, blockStart[b + 1]!);

  const memberOffset = new Int32Array(n + 1);
  for (let p = 0; p < n; p++) {
    const c = classOf[p]!;
    memberOffset[p + 1] = memberOffset[p]! + (classStart[c + 1]! - classStart[c]! - 1);
  }

  // Block pairs that hold same-class pairs, and diagonal blocks that a class crosses out of.
  const spanned = new Set<string>();
  const leaky = new Uint8Array(numBlocks);
  for (let c = 0; c < numClasses; c++) {
    const first = blockOf[classStart[c]!]!;
    const last = blockOf[classStart[c + 1]! - 1]!;
    if (first === last) continue;
    for (let bi = first; bi <= last; bi++) {
      leaky[bi] = 1;
      for (let bj = bi; bj <= last; bj++) spanned.add(`${bi},${bj}`);
    }
  }
  const pass1: BlockTask[] = [];
  const pass2: BlockTask[] = [];
  for (let i = 0; i < numBlocks; i++) {
    for (let j = i; j < numBlocks; j++) {
      if (i === j && !leaky[i]) pass1.push({ i, j, mode: 'extract+count' });
      else {
        if (i === j || spanned.has(`${i},${j}`)) pass1.push({ i, j, mode: 'extract' });
        pass2.push({ i, j, mode: 'count' });
      }
    }
  }
  return { n, order, classOf, classStart, numClasses, blockStart, memberOffset, pass1, pass2 };
}
