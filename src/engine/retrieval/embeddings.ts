/**
 * Embedding matrices as the retrieval code takes them: one Float32Array of
 * n rows by d columns, row-major (the layout `.npy` and tf use).
 */

export interface EmbeddingMatrix {
  data: Float32Array;
  /** Rows (images). */
  n: number;
  /** Columns (embedding size). */
  d: number;
}

/**
 * The model, as retrieval sees it: absolute image paths in, float32 [paths, D]
 * embeddings out (same order, not necessarily normalised). `onProgress` is
 * called with images done so far.
 */
export type Embedder = (paths: string[], onProgress?: (done: number, total: number) => void) => Promise<Float32Array>;

/** Check that `data` holds n x d finite numbers; `what` names the source in the message. */
export function checkEmbeddings(m: EmbeddingMatrix, what = 'embeddings'): void {
  if (!Number.isInteger(m.n) || m.n < 0 || !Number.isInteger(m.d) || m.d <= 0) {
    throw new Error(`${what}: invalid shape [${m.n}, ${m.d}] (rows must be >= 0, columns > 0)`);
  }
  if (m.data.length !== m.n * m.d) {
    throw new Error(`${what}: expected ${m.n} x ${m.d} = ${m.n * m.d} values, got ${m.data.length}`);
  }
  for (let i = 0; i < m.data.length; i++) {
    if (!Number.isFinite(m.data[i]!)) {
      throw new Error(
        `${what}: row ${Math.floor(i / m.d)} column ${i % m.d} is ${m.data[i]} (NaN or infinite); the model produced an invalid embedding for that image`,
      );
    }
  }
}

/**
 * L2-normalised copy, so that the dot product of two rows is their cosine
 * similarity. Norms are accumulated in float64; a zero row stays zero (it is
 * then equally similar, 0, to everything) rather than becoming NaN.
 */
export function l2NormalizeRows(m: EmbeddingMatrix): EmbeddingMatrix {
  const { data, n, d } = m;
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    const off = r * d;
    let sum = 0;
    for (let c = 0; c < d; c++) {
      const v = data[off + c]!;
      sum += v * v;
    }
    if (sum === 0) continue;
    const inv = 1 / Math.sqrt(sum);
    for (let c = 0; c < d; c++) out[off + c] = data[off + c]! * inv;
  }
  return { data: out, n, d };
}

/** Rows [start, end) copied into a transposed [d, end - start] block (the right-hand side of a plain matMul). */
export function transposeRows(m: EmbeddingMatrix, start: number, end: number): Float32Array {
  const { data, d } = m;
  const cols = end - start;
  const out = new Float32Array(d * cols);
  for (let r = 0; r < cols; r++) {
    const src = (start + r) * d;
    for (let c = 0; c < d; c++) out[c * cols + r] = data[src + c]!;
  }
  return out;
}

/**
 * Cosine of each row of `a` with the same row of `b` (both [n, d] row-major): how far two models'
 * embeddings of the same images agree.
 */
export function rowCosines(a: Float32Array, b: Float32Array, d: number): number[] {
  const n = a.length / d;
  return Array.from({ length: n }, (_, i) => {
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let k = i * d; k < (i + 1) * d; k++) {
      ab += a[k]! * b[k]!;
      aa += a[k]! ** 2;
      bb += b[k]! ** 2;
    }
    return ab / Math.sqrt(aa * bb);
  });
}
