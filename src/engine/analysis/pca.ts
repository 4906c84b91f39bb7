/**
 * Principal component analysis of embeddings, for the embeddings map.
 *
 * The rows are L2-normalised first (search compares them by cosine, so the
 * map should show the geometry search sees), then centred. The D x D
 * covariance is accumulated in float64 over blocks of rows (one pass over the
 * N x D data: at SOP's 60,502 x 384 that is the whole cost), and its leading
 * eigenvectors come from block power iteration on that small matrix, started
 * from a seeded random block and finished with a Rayleigh-Ritz step, so the
 * same embeddings and seed give bit-identical output.
 *
 * Signs: an eigenvector is only defined up to sign; each component is flipped
 * so that its largest-magnitude coefficient is positive (scikit-learn's
 * `svd_flip` rule on the components), which keeps the map from mirroring
 * between runs of nearly the same model.
 */
import { Rng } from '../util/rng';
import type { EmbeddingMatrix } from '../retrieval/embeddings';

export interface PcaOptions {
  /** Components kept; default 2. */
  components?: number;
  /** Seed of the power iteration's starting block; default 0. */
  seed?: number;
  /** Iterations at most; default 2000 (the covariance is only D x D, so each is cheap). */
  maxIterations?: number;
  /** Stop when no kept (unit) component moves more than this between iterations; default 1e-11. */
  tolerance?: number;
}

export interface PcaResult {
  /** Row-major [n, components] projections of the normalised, centred rows. */
  coordinates: Float32Array;
  components: number;
  /** Row-major [components, d] unit vectors. */
  axes: Float64Array;
  /** Variance along each component. */
  variance: number[];
  /** Share of the total variance along each component (0 when there is none: all rows the same). */
  varianceRatio: number[];
  /** Variance of the normalised rows, summed over dimensions; below NO_VARIANCE the rows are all the same. */
  totalVariance: number;
  iterations: number;
  converged: boolean;
}

/**
 * Total variance below which the rows count as identical. Rows are unit vectors (total variance up to 1); identical
 * rows leave only float32 rounding, about 1e-14 per dimension, which would otherwise show as "100% of the variance".
 */
export const NO_VARIANCE = 1e-9;

/** Rows processed together while accumulating the covariance (a block stays in cache). */
const ROW_BLOCK = 128;
/** Extra vectors iterated beyond those kept: convergence then goes with lambda_(k+extra+1)/lambda_k. */
const OVERSAMPLE = 6;

export function pca(m: EmbeddingMatrix, options: PcaOptions = {}): PcaResult {
  const { n, d } = m;
  const k = options.components ?? 2;
  if (!Number.isInteger(k) || k < 1 || k > d) throw new Error(`components must be 1..${d}, got ${k}`);
  if (n < 2) throw new Error(`PCA needs at least 2 rows, got ${n}`);
  const { mean, rows } = normalisedMean(m);
  const cov = covariance(m, mean, rows);
  let total = 0;
  for (let i = 0; i < d; i++) total += cov[i * d + i]!;
  const p = Math.min(d, k + OVERSAMPLE);
  const { vectors, values, iterations, converged } = topEigen(cov, d, p, k, options);
  const axes = new Float64Array(k * d);
  for (let c = 0; c < k; c++) {
    let big = 0;
    for (let i = 0; i < d; i++) if (Math.abs(vectors[c * d + i]!) > Math.abs(big)) big = vectors[c * d + i]!;
    const sign = big < 0 ? -1 : 1;
    for (let i = 0; i < d; i++) axes[c * d + i] = sign * vectors[c * d + i]!;
  }
  const coordinates = project(m, mean, rows, axes, k);
  const variance = values.slice(0, k);
  return {
    coordinates,
    components: k,
    axes,
    variance,
    varianceRatio: variance.map((v) => (total > NO_VARIANCE ? v / total : 0)),
    totalVariance: total,
    iterations,
    converged,
  };
}

/** 1 / norm of each row (0 for a zero row, which then stays at the origin) and the mean of the normalised rows. */
function normalisedMean(m: EmbeddingMatrix): { mean: Float64Array; rows: Float64Array } {
  const { data, n, d } = m;
  const rows = new Float64Array(n);
  const mean = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const off = r * d;
    let s = 0;
    for (let c = 0; c < d; c++) s += data[off + c]! * data[off + c]!;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    rows[r] = inv;
    for (let c = 0; c < d; c++) mean[c] += data[off + c]! * inv;
  }
  for (let c = 0; c < d; c++) mean[c] /= n;
  return { mean, rows };
}

/** Sample covariance (divided by n - 1, like NumPy's `np.cov`), full D x D. */
function covariance(m: EmbeddingMatrix, mean: Float64Array, inv: Float64Array): Float64Array {
  const { data, n, d } = m;
  const cov = new Float64Array(d * d);
  // Centred rows of a block, transposed: column c of the block is contiguous, so the
  // inner loop of each (i, j) pair walks two arrays in step.
  const block = new Float64Array(d * ROW_BLOCK);
  for (let start = 0; start < n; start += ROW_BLOCK) {
    const b = Math.min(ROW_BLOCK, n - start);
    for (let r = 0; r < b; r++) {
      const off = (start + r) * d;
      const s = inv[start + r]!;
      for (let c = 0; c < d; c++) block[c * ROW_BLOCK + r] = data[off + c]! * s - mean[c]!;
    }
    accumulateBlock(cov, block, d, b);
  }
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const v = cov[i * d + j]! / (n - 1);
      cov[i * d + j] = v;
      cov[j * d + i] = v;
    }
  }
  return cov;
}

/**
 * cov[i, j] += sum over the block's rows of x_i x_j, for j >= i. Two rows of
 * the result by four columns at a time: each value loaded serves several
 * products (about twice as fast in V8 as one pair at a time).
 */
function accumulateBlock(cov: Float64Array, block: Float64Array, d: number, b: number): void {
  const B = ROW_BLOCK;
  for (let i = 0; i < d; i += 2) {
    const i1 = Math.min(i + 1, d - 1);
    const a0 = i * B;
    const a1 = i1 * B;
    // Columns from i (a few below the diagonal for row i + 1 are computed and dropped below).
    for (let j = i; j < d; j += 4) {
      const j1 = Math.min(j + 1, d - 1);
      const j2 = Math.min(j + 2, d - 1);
      const j3 = Math.min(j + 3, d - 1);
      const b0 = j * B;
      const b1 = j1 * B;
      const b2 = j2 * B;
      const b3 = j3 * B;
      let s00 = 0,
        s01 = 0,
        s02 = 0,
        s03 = 0,
        s10 = 0,
        s11 = 0,
        s12 = 0,
        s13 = 0;
      for (let r = 0; r < b; r++) {
        const x0 = block[a0 + r]!;
        const x1 = block[a1 + r]!;
        const y0 = block[b0 + r]!;
        const y1 = block[b1 + r]!;
        const y2 = block[b2 + r]!;
        const y3 = block[b3 + r]!;
        s00 += x0 * y0;
        s01 += x0 * y1;
        s02 += x0 * y2;
        s03 += x0 * y3;
        s10 += x1 * y0;
        s11 += x1 * y1;
        s12 += x1 * y2;
        s13 += x1 * y3;
      }
      // Clamped indexes repeat the last column or row at the matrix's edge: add each cell once.
      const cols = [j, j1, j2, j3];
      const sums0 = [s00, s01, s02, s03];
      const sums1 = [s10, s11, s12, s13];
      for (let c = 0; c < 4; c++) {
        const col = cols[c]!;
        if (c > 0 && col === cols[c - 1]) break;
        cov[i * d + col] += sums0[c]!;
        if (i1 !== i && col >= i1) cov[i1 * d + col] += sums1[c]!;
      }
    }
  }
}

/**
 * The `k` leading eigenpairs of the symmetric d x d matrix `a`, by block power
 * iteration on `p` >= k vectors with Gram-Schmidt after each product and a
 * Rayleigh-Ritz rotation (Jacobi on the p x p projected matrix) at each check.
 */
function topEigen(
  a: Float64Array,
  d: number,
  p: number,
  k: number,
  options: PcaOptions,
): { vectors: Float64Array; values: number[]; iterations: number; converged: boolean } {
  const rng = new Rng(options.seed ?? 0);
  const maxIterations = options.maxIterations ?? 2000;
  const tolerance = options.tolerance ?? 1e-11;
  let v: Float64Array = new Float64Array(p * d);
  for (let i = 0; i < v.length; i++) v[i] = rng.next() * 2 - 1;
  orthonormalise(v, p, d);
  let previous: Float64Array = new Float64Array(k * d);
  let values: number[] = [];
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    const w = multiply(a, v, p, d);
    orthonormalise(w, p, d);
    const ritz = rayleighRitz(a, w, p, d);
    v = ritz.vectors;
    values = ritz.values;
    // Distance to the previous iterate (up to sign), measured directly: 1 - |cos| would
    // stop at angles near 1e-6, where it meets float64's resolution.
    let moved = 0;
    for (let c = 0; c < k; c++) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += v[c * d + i]! * previous[c * d + i]!;
      const sign = dot < 0 ? -1 : 1;
      let dist = 0;
      for (let i = 0; i < d; i++) dist += (v[c * d + i]! - sign * previous[c * d + i]!) ** 2;
      moved = Math.max(moved, Math.sqrt(dist));
    }
    previous = v.slice(0, k * d);
    if (moved <= tolerance) {
      converged = true;
      break;
    }
  }
  return { vectors: v, values, iterations, converged };
}

/** Rows of `v` ([p, d]) times the symmetric `a`: [p, d]. */
function multiply(a: Float64Array, v: Float64Array, p: number, d: number): Float64Array {
  const out = new Float64Array(p * d);
  for (let c = 0; c < p; c++) {
    for (let i = 0; i < d; i++) {
      let s = 0;
      const row = i * d;
      for (let j = 0; j < d; j++) s += a[row + j]! * v[c * d + j]!;
      out[c * d + i] = s;
    }
  }
  return out;
}

/** Modified Gram-Schmidt on the rows of `v`, twice for stability; a collapsed row is replaced by a unit vector. */
function orthonormalise(v: Float64Array, p: number, d: number): void {
  for (let pass = 0; pass < 2; pass++) {
    for (let c = 0; c < p; c++) {
      for (let o = 0; o < c; o++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[c * d + i]! * v[o * d + i]!;
        for (let i = 0; i < d; i++) v[c * d + i] -= dot * v[o * d + i]!;
      }
      let norm = 0;
      for (let i = 0; i < d; i++) norm += v[c * d + i]! * v[c * d + i]!;
      norm = Math.sqrt(norm);
      if (norm < 1e-300) {
        for (let i = 0; i < d; i++) v[c * d + i] = i === c ? 1 : 0;
        continue;
      }
      for (let i = 0; i < d; i++) v[c * d + i] /= norm;
    }
  }
}

/** Rotate the orthonormal rows of `v` to the eigenvectors of V A V^T, largest eigenvalue first. */
function rayleighRitz(
  a: Float64Array,
  v: Float64Array,
  p: number,
  d: number,
): { vectors: Float64Array; values: number[] } {
  const av = multiply(a, v, p, d);
  const h = new Float64Array(p * p);
  for (let r = 0; r < p; r++)
    for (let c = 0; c < p; c++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += v[r * d + i]! * av[c * d + i]!;
      h[r * p + c] = s;
    }
  for (let r = 0; r < p; r++)
    for (let c = r + 1; c < p; c++) {
      const s = (h[r * p + c]! + h[c * p + r]!) / 2;
      h[r * p + c] = s;
      h[c * p + r] = s;
    }
  const { values, vectors: q } = jacobiEigen(h, p);
  const order = values.map((_, i) => i).sort((x, y) => values[y]! - values[x]! || x - y);
  const out = new Float64Array(p * d);
  order.forEach((src, dst) => {
    for (let j = 0; j < p; j++) {
      const w = q[j * p + src]!;
      if (w === 0) continue;
      for (let i = 0; i < d; i++) out[dst * d + i] += w * v[j * d + i]!;
    }
  });
  return { vectors: out, values: order.map((i) => values[i]!) };
}

/** Cyclic Jacobi eigenvalue algorithm on a small symmetric matrix; eigenvectors are the columns of `vectors`. */
export function jacobiEigen(input: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = input.slice();
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i * n + j]! ** 2;
    if (off < 1e-30) break;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const aij = a[i * n + j]!;
        if (Math.abs(aij) < 1e-300) continue;
        const theta = (a[j * n + j]! - a[i * n + i]!) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < n; r++) {
          const ari = a[r * n + i]!;
          const arj = a[r * n + j]!;
          a[r * n + i] = c * ari - s * arj;
          a[r * n + j] = s * ari + c * arj;
        }
        for (let r = 0; r < n; r++) {
          const air = a[i * n + r]!;
          const ajr = a[j * n + r]!;
          a[i * n + r] = c * air - s * ajr;
          a[j * n + r] = s * air + c * ajr;
        }
        for (let r = 0; r < n; r++) {
          const qri = q[r * n + i]!;
          const qrj = q[r * n + j]!;
          q[r * n + i] = c * qri - s * qrj;
          q[r * n + j] = s * qri + c * qrj;
        }
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]!), vectors: q };
}

function project(
  m: EmbeddingMatrix,
  mean: Float64Array,
  inv: Float64Array,
  axes: Float64Array,
  k: number,
): Float32Array {
  const { data, n, d } = m;
  // The mean's own projection, subtracted once per row instead of centring every value.
  const shift = new Float64Array(k);
  for (let c = 0; c < k; c++) for (let i = 0; i < d; i++) shift[c] += mean[i]! * axes[c * d + i]!;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    const off = r * d;
    const s = inv[r]!;
    for (let c = 0; c < k; c++) {
      let dot = 0;
      const ax = c * d;
      for (let i = 0; i < d; i++) dot += data[off + i]! * axes[ax + i]!;
      out[r * k + c] = dot * s - shift[c]!;
    }
  }
  return out;
}
