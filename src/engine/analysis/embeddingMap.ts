/**
 * The embeddings map of a benchmark folder: PCA of its embeddings to 2-D
 * (./pca.ts), timed, written as `embedding_map.json` (format:
 * src/shared/artifacts/embeddingMap.ts) next to `embeddings.npy`.
 */
import * as path from 'node:path';
import { writeFileAtomic } from '../../shared/fs/atomic';
import { expectNpy, readNpy } from '../../shared/artifacts/npy';
import type { EmbeddingMatrix } from '../retrieval/embeddings';
import { EMBEDDING_MAP_FILE, EMBEDDING_MAP_FORMAT, type EmbeddingMapFile } from '../../shared/artifacts/embeddingMap';
import { pca } from './pca';

export const DEFAULT_MAP_SEED = 0;

/** Coordinates are kept to 6 decimals: maps of unit vectors span about [-1, 1], so this is far below a pixel. */
const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/**
 * Maps already made, by embeddings array and seed: training's epoch-0 evaluation writes the same
 * embeddings into two folders (eval-latest, eval-before), and at SOP's size a projection takes seconds.
 */
const made = new WeakMap<Float32Array, Map<number, { fingerprint: number; map: EmbeddingMapFile }>>();

/** A sample of the values, so that an array refilled in place is not taken for the one projected. */
function fingerprint(emb: EmbeddingMatrix): number {
  let s = emb.n * 31 + emb.d;
  for (let i = 0; i < emb.data.length; i += 997) s = (s * 1.000001 + emb.data[i]!) % 1e9;
  return s;
}

export function computeEmbeddingMap(emb: EmbeddingMatrix, seed = DEFAULT_MAP_SEED): EmbeddingMapFile {
  const print = fingerprint(emb);
  const known = made.get(emb.data)?.get(seed);
  if (known && known.fingerprint === print) return known.map;
  const map = project(emb, seed);
  if (!made.has(emb.data)) made.set(emb.data, new Map());
  made.get(emb.data)!.set(seed, { fingerprint: print, map });
  return map;
}

function project(emb: EmbeddingMatrix, seed: number): EmbeddingMapFile {
  const started = performance.now();
  const r = pca(emb, { components: 2, seed });
  const seconds = (performance.now() - started) / 1000;
  const x = new Array<number>(emb.n);
  const y = new Array<number>(emb.n);
  for (let i = 0; i < emb.n; i++) {
    x[i] = round6(r.coordinates[2 * i]!);
    y[i] = round6(r.coordinates[2 * i + 1]!);
  }
  return {
    format: EMBEDDING_MAP_FORMAT,
    version: 1,
    method: 'pca',
    seed,
    num_points: emb.n,
    dim: emb.d,
    input: 'rows of embeddings.npy, each L2-normalised (as search compares them), then centred',
    variance_ratio: r.varianceRatio.map((v) => Math.round(v * 1e6) / 1e6),
    seconds: Math.round(seconds * 1000) / 1000,
    iterations: r.iterations,
    converged: r.converged,
    created: new Date().toISOString(),
    x,
    y,
  };
}

/** Write the map of `emb` into `dir`; returns the file and the map. */
export function writeEmbeddingMap(
  dir: string,
  emb: EmbeddingMatrix,
  seed = DEFAULT_MAP_SEED,
): { file: string; map: EmbeddingMapFile } {
  const map = computeEmbeddingMap(emb, seed);
  const file = path.join(dir, EMBEDDING_MAP_FILE);
  // One line: indented, 2 x 60,502 numbers would take twice the bytes.
  writeFileAtomic(file, JSON.stringify(map) + '\n');
  return { file, map };
}

/** Rows of `emb` holding a NaN or an infinity (a map of them would be all nulls). */
export function nonFiniteRows(emb: EmbeddingMatrix): number[] {
  const bad: number[] = [];
  for (let row = 0; row < emb.n; row++) {
    for (let j = row * emb.d; j < (row + 1) * emb.d; j++) {
      if (!Number.isFinite(emb.data[j]!)) {
        bad.push(row);
        break;
      }
    }
  }
  return bad;
}

/** The float32 [N, D] embeddings.npy of a benchmark folder. */
export function readBenchmarkEmbeddings(dir: string): EmbeddingMatrix {
  const file = path.join(dir, 'embeddings.npy');
  const a = readNpy(file);
  expectNpy(a, ['<f4'], 2, file);
  return { data: a.data as Float32Array, n: a.shape[0]!, d: a.shape[1]! };
}
