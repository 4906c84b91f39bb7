/**
 * `embedding_map.json`: a 2-D map of a benchmark's embeddings, written next to
 * its `embeddings.npy` (the engine's src/engine/analysis/embeddingMap.ts) and
 * drawn by the results panel. Point i is row i of `embeddings.npy`, so it is
 * image i of `metadata.jsonl` and of the neighbours file.
 *
 *   { "format": "vembed-embedding-map", "version": 1,
 *     "method": "pca", "seed": 0, "num_points": N, "dim": D,
 *     "input": "...what was projected...",
 *     "variance_ratio": [0.21, 0.08],   share of the variance along each axis
 *     "seconds": 2.4,                   time the projection took
 *     "iterations": 60, "converged": true,
 *     "x": [...], "y": [...] }          N numbers each
 *
 * Plain JSON (no `.npy`) so that this module stays free of Node built-ins and
 * both the engine and the extension read it with the same parser. In NumPy:
 * `m = json.load(open(f)); xy = np.c_[m["x"], m["y"]]`.
 */

export const EMBEDDING_MAP_FILE = 'embedding_map.json';
export const EMBEDDING_MAP_FORMAT = 'vembed-embedding-map';

export interface EmbeddingMapFile {
  format: typeof EMBEDDING_MAP_FORMAT;
  version: 1;
  method: 'pca';
  seed: number;
  num_points: number;
  dim: number;
  input: string;
  variance_ratio: number[];
  seconds: number;
  /** Power iterations run, and whether the axes settled (false: the leading eigenvalues are nearly equal). */
  iterations?: number;
  converged?: boolean;
  created?: string;
  x: number[];
  y: number[];
}

/** The map as the panel uses it. */
export interface EmbeddingMap {
  method: string;
  seed: number;
  numPoints: number;
  dim: number;
  varianceRatio: number[];
  seconds: number;
  x: Float32Array;
  y: Float32Array;
}

/** Check and convert the text of an `embedding_map.json`; throws an Error naming `file` and what is wrong. */
export function parseEmbeddingMap(text: string, file: string): EmbeddingMap {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const m = v as Partial<EmbeddingMapFile> | null;
  if (typeof m !== 'object' || m === null || m.format !== EMBEDDING_MAP_FORMAT)
    throw new Error(`${file}: not an embedding map (expected "format": "${EMBEDDING_MAP_FORMAT}")`);
  if (m.version !== 1) throw new Error(`${file}: version ${String(m.version)} is not supported (this vembed reads 1)`);
  const n = m.num_points;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Error(`${file}: num_points must be a count`);
  const coords = (name: 'x' | 'y'): Float32Array => {
    const a = m[name];
    if (!Array.isArray(a) || a.length !== n)
      throw new Error(
        `${file}: "${name}" must hold num_points (${n}) numbers, found ${Array.isArray(a) ? a.length : typeof a}`,
      );
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = a[i];
      if (typeof x !== 'number' || !Number.isFinite(x))
        throw new Error(`${file}: "${name}"[${i}] is not a finite number`);
      out[i] = x;
    }
    return out;
  };
  return {
    method: typeof m.method === 'string' ? m.method : 'pca',
    seed: typeof m.seed === 'number' ? m.seed : 0,
    numPoints: n,
    dim: typeof m.dim === 'number' ? m.dim : 0,
    varianceRatio: Array.isArray(m.variance_ratio) ? m.variance_ratio.filter((x) => typeof x === 'number') : [],
    seconds: typeof m.seconds === 'number' ? m.seconds : NaN,
    x: coords('x'),
    y: coords('y'),
  };
}
