/**
 * The nearest-neighbour results of a benchmark run, for the results panel.
 *
 * Format (version 1): a small manifest `neighbours.json` next to the report,
 * and flat `.npy` arrays it names (loadable in NumPy as they are):
 *
 *   neighbours.json
 *     { "format": "vembed-neighbours", "version": 1,
 *       "num_queries": N, "k": K, "rank_cap": 1000,
 *       "similarity": "cosine", "ties": "...",
 *       "files": { "indices": "neighbours_indices.npy", "scores": ..., "same_class": ..., "first_correct_rank": ... },
 *       "metadata": "metadata.jsonl",           (optional: one {"path", "label", ...} line per image)
 *       "image_root": "/data/Stanford_Online_Products" }   (optional: where relative paths start)
 *   neighbours_indices.npy      int32   [N, K]  image indices (rows of embeddings.npy), best first; -1 = empty slot
 *   neighbours_scores.npy       float32 [N, K]  cosine similarity; NaN = empty slot
 *   neighbours_same_class.npy   uint8   [N, K]  1 when the neighbour is of the query's class
 *   first_correct_rank.npy      int32   [N]     1-based rank of the first image of the query's class among
 *                                               all other images; 0 = beyond rank_cap; -1 = the query's class
 *                                               has no other image (not a valid query)
 *
 * Query q's j-th neighbour is element [q, j]. Image indices follow the image
 * list of the run (Ebay_test.txt order for SOP). A query never lists itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeJsonAtomic } from '../fs/atomic';
import { expectNpy, NpyError, readNpy, writeNpy } from './npy';

export const NEIGHBOURS_MANIFEST = 'neighbours.json';
export const NEIGHBOURS_FORMAT = 'vembed-neighbours';

const FILES = {
  indices: 'neighbours_indices.npy',
  scores: 'neighbours_scores.npy',
  same_class: 'neighbours_same_class.npy',
  first_correct_rank: 'first_correct_rank.npy',
} as const;

export interface NeighboursManifest {
  format: typeof NEIGHBOURS_FORMAT;
  version: 1;
  num_queries: number;
  k: number;
  rank_cap: number;
  similarity: 'cosine';
  ties: string;
  files: typeof FILES;
  /** metadata.jsonl in the same folder, when the run knew its image paths. */
  metadata?: string;
  /** Folder the metadata's relative paths start from (relative roots: from this manifest's folder). */
  image_root?: string;
}

export interface NeighbourTable {
  numQueries: number;
  k: number;
  rankCap: number;
  indices: Int32Array;
  scores: Float32Array;
  sameClass: Uint8Array;
  firstCorrectRank: Int32Array;
}

export interface Neighbour {
  /** 1-based. */
  rank: number;
  index: number;
  score: number;
  sameClass: boolean;
}

export const TIE_RULE = 'equal similarity: the lower image index ranks first';

export function writeNeighbours(dir: string, table: NeighbourTable, metadataFile?: string, imageRoot?: string): string {
  const { numQueries: n, k } = table;
  if (
    table.indices.length !== n * k ||
    table.scores.length !== n * k ||
    table.sameClass.length !== n * k ||
    table.firstCorrectRank.length !== n
  ) {
    throw new Error(`neighbour arrays do not match ${n} queries x ${k} neighbours`);
  }
  writeNpy(path.join(dir, FILES.indices), { dtype: '<i4', shape: [n, k], data: table.indices });
  writeNpy(path.join(dir, FILES.scores), { dtype: '<f4', shape: [n, k], data: table.scores });
  writeNpy(path.join(dir, FILES.same_class), { dtype: '|u1', shape: [n, k], data: table.sameClass });
  writeNpy(path.join(dir, FILES.first_correct_rank), { dtype: '<i4', shape: [n], data: table.firstCorrectRank });
  const manifest: NeighboursManifest = {
    format: NEIGHBOURS_FORMAT,
    version: 1,
    num_queries: n,
    k,
    rank_cap: table.rankCap,
    similarity: 'cosine',
    ties: TIE_RULE,
    files: FILES,
    ...(metadataFile ? { metadata: metadataFile } : {}),
    ...(imageRoot ? { image_root: imageRoot } : {}),
  };
  const file = path.join(dir, NEIGHBOURS_MANIFEST);
  writeJsonAtomic(file, manifest);
  return file;
}

export interface LoadedNeighbours extends NeighbourTable {
  manifest: NeighboursManifest;
  /** Query q's neighbours, best first (empty slots left out). */
  of(q: number): Neighbour[];
}

/** Read what writeNeighbours wrote; `dir` is the folder or its neighbours.json. */
export function readNeighbours(dirOrManifest: string): LoadedNeighbours {
  const file = dirOrManifest.endsWith('.json') ? dirOrManifest : path.join(dirOrManifest, NEIGHBOURS_MANIFEST);
  const dir = path.dirname(file);
  let manifest: NeighboursManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as NeighboursManifest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `${file}: not found; run the benchmark first`
        : `${file}: not valid JSON (${(e as Error).message})`,
      { cause: e },
    );
  }
  if (manifest?.format !== NEIGHBOURS_FORMAT)
    throw new Error(
      `${file}: not a neighbours manifest (format is ${JSON.stringify(manifest?.format)}, expected "${NEIGHBOURS_FORMAT}")`,
    );
  if (manifest.version !== 1)
    throw new Error(`${file}: version ${manifest.version} is not supported (this vembed reads version 1)`);
  const n = manifest.num_queries;
  const k = manifest.k;
  const load = (name: keyof typeof FILES, dtype: '<i4' | '<f4' | '|u1', shape: number[]) => {
    const f = path.join(dir, manifest.files[name]);
    const a = readNpy(f);
    expectNpy(a, [dtype], shape.length, f);
    if (a.shape.some((s, i) => s !== shape[i]))
      throw new NpyError(`expected shape (${shape.join(', ')}), found (${a.shape.join(', ')})`, f);
    return a.data;
  };
  const indices = load('indices', '<i4', [n, k]) as Int32Array;
  const scores = load('scores', '<f4', [n, k]) as Float32Array;
  const sameClass = load('same_class', '|u1', [n, k]) as Uint8Array;
  const firstCorrectRank = load('first_correct_rank', '<i4', [n]) as Int32Array;
  return {
    manifest,
    numQueries: n,
    k,
    rankCap: manifest.rank_cap,
    indices,
    scores,
    sameClass,
    firstCorrectRank,
    of(q: number): Neighbour[] {
      if (!Number.isInteger(q) || q < 0 || q >= n) throw new RangeError(`query ${q} is out of range (0..${n - 1})`);
      const out: Neighbour[] = [];
      for (let j = 0; j < k; j++) {
        const index = indices[q * k + j]!;
        if (index < 0) break;
        out.push({ rank: j + 1, index, score: scores[q * k + j]!, sameClass: sameClass[q * k + j] === 1 });
      }
      return out;
    },
  };
}
