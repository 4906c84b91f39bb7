/**
 * A deliberately plain reference for the retrieval tests: full similarity
 * rows in float64, whole rows sorted, metrics straight from their
 * definitions. Shares no code with src/engine/retrieval.
 */

export interface Reference {
  /** Sorted gallery (original indices) of each query, best first, the query excluded. */
  rankings: number[][];
  sims: number[][];
  firstCorrectRank: number[]; // -1 invalid
  apAtR: number[]; // NaN invalid
  recall: Record<number, number>;
  mapAtR: number;
  numValid: number;
}

export function normalise(data: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += data[i * d + c]! ** 2;
    const norm = Math.sqrt(s);
    for (let c = 0; c < d; c++) out[i * d + c] = norm === 0 ? 0 : data[i * d + c]! / norm;
  }
  return out;
}

export function referenceProtocol(data: Float32Array, n: number, d: number, labels: number[], ks: number[]): Reference {
  const x = normalise(data, n, d);
  const rankings: number[][] = [];
  const sims: number[][] = [];
  const firstCorrectRank: number[] = [];
  const apAtR: number[] = [];
  for (let q = 0; q < n; q++) {
    const row: number[] = [];
    for (let g = 0; g < n; g++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += x[q * d + c]! * x[g * d + c]!;
      row.push(s);
    }
    sims.push(row);
    const others = [...Array(n).keys()].filter((g) => g !== q);
    others.sort((a, b) => row[b]! - row[a]! || a - b);
    rankings.push(others);
    const relevant = others.map((g) => labels[g] === labels[q]);
    const r = relevant.filter(Boolean).length;
    if (r === 0) {
      firstCorrectRank.push(-1);
      apAtR.push(NaN);
      continue;
    }
    firstCorrectRank.push(relevant.indexOf(true) + 1);
    let hits = 0;
    let sum = 0;
    for (let i = 0; i < r; i++) {
      if (relevant[i]) {
        hits++;
        sum += hits / (i + 1);
      }
    }
    apAtR.push(sum / r);
  }
  const validQueries = firstCorrectRank.map((r, q) => [r, q] as const).filter(([r]) => r > 0);
  const recall: Record<number, number> = {};
  for (const k of ks) recall[k] = validQueries.filter(([r]) => r <= k).length / validQueries.length;
  const mapAtR = validQueries.reduce((s, [, q]) => s + apAtR[q]!, 0) / validQueries.length;
  return { rankings, sims, firstCorrectRank, apAtR, recall, mapAtR, numValid: validQueries.length };
}

export { seeded } from '../../helpers/seeded';

/**
 * Vectors in {-1, 0, 1}^d with exactly 16 non-zeros: once normalised their
 * entries are +-0.25, so every similarity is a multiple of 1/16 computed
 * exactly in float32 whatever the summation order. Many exact ties.
 */
export function tiedVectors(n: number, d: number, rand: () => number): Float32Array {
  if (d < 16) throw new Error('need d >= 16');
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const cols = [...Array(d).keys()];
    for (let c = 0; c < 16; c++) {
      const pick = c + Math.floor(rand() * (d - c));
      [cols[c], cols[pick]] = [cols[pick]!, cols[c]!];
      out[i * d + cols[c]!] = rand() < 0.5 ? -1 : 1;
    }
  }
  return out;
}
