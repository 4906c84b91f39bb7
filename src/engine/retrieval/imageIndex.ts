/**
 * An image index: a folder that search-by-image loads and queries.
 *
 *   index.json       { "format": "vembed-index", "version": 1, "dim": D, "count": N,
 *                      "model": {...}, "normalised": true, "metric": "cosine",
 *                      "dtype": "float32", "created": ISO time, "image_root"?: DIR,
 *                      "files": { "embeddings": "embeddings.npy", "metadata": "metadata.jsonl" } }
 *   embeddings.npy   float32 [N, D], C order, each row L2-normalised, so the inner
 *                    product is the cosine similarity: FAISS `IndexFlatIP` or a vector
 *                    database's dot-product / cosine collection takes the array as is.
 *   metadata.jsonl   line i describes row i: {"path": ..., "label"?: ..., ...}
 *
 * The folder is written atomically as a whole (built next to the target, then
 * renamed). Loading checks that the three files agree.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeDirAtomic, writeJsonAtomic } from '../../shared/fs/atomic';
import { expectNpy, readNpy, writeNpy } from '../../shared/artifacts/npy';
import { checkEmbeddings, l2NormalizeRows, type Embedder, type EmbeddingMatrix } from './embeddings';
import { keepOnDevice, prepareGallery, releaseFromDevice, searchExact, type PreparedGallery } from './exactSearch';
import { METADATA_FILE, readMetadata, writeMetadata, type ImageRecord } from '../../shared/artifacts/metadataFile';
import { resolveImagePath } from '../data/imagePaths';

export const INDEX_MANIFEST = 'index.json';
export const INDEX_FORMAT = 'vembed-index';
export const INDEX_EMBEDDINGS = 'embeddings.npy';

/** Which model made the embeddings: queries must be embedded by the same one. */
export interface ModelReference {
  /** Hub id or folder. */
  name: string;
  revision?: string;
  checkpoint?: string;
  [key: string]: unknown;
}

export interface IndexManifest {
  format: typeof INDEX_FORMAT;
  version: 1;
  dim: number;
  count: number;
  model: ModelReference;
  normalised: boolean;
  metric: 'cosine';
  dtype: 'float32';
  created: string;
  image_root?: string;
  /**
   * Whether metadata paths may be absolute or leave image_root (`../x.jpg`):
   * the data rule (allow_absolute_paths), recorded by the builder. Without it
   * such paths are refused when the index is loaded.
   */
  allow_outside_root?: boolean;
  files: { embeddings: string; metadata: string };
}

export interface BuildIndexInput {
  /** As the model produced them; normalised before saving. */
  embeddings: EmbeddingMatrix;
  /** One per embedding row, same order. */
  records: readonly ImageRecord[];
  model: ModelReference;
  /** Folder the records' relative paths start from. */
  imageRoot?: string;
  /** Records may name images outside imageRoot (the data's allow_absolute_paths). */
  allowOutsideRoot?: boolean;
}

export function buildIndex(dir: string, input: BuildIndexInput): IndexManifest {
  const { embeddings, records } = input;
  checkEmbeddings(embeddings);
  if (records.length !== embeddings.n)
    throw new Error(`${records.length} image records for ${embeddings.n} embeddings; there must be one per image`);
  if (!input.model?.name) throw new Error('the index needs the model that made the embeddings (model.name)');
  const manifest: IndexManifest = {
    format: INDEX_FORMAT,
    version: 1,
    dim: embeddings.d,
    count: embeddings.n,
    model: input.model,
    normalised: true,
    metric: 'cosine',
    dtype: 'float32',
    created: new Date().toISOString(),
    ...(input.imageRoot ? { image_root: input.imageRoot } : {}),
    ...(input.allowOutsideRoot ? { allow_outside_root: true } : {}),
    files: { embeddings: INDEX_EMBEDDINGS, metadata: METADATA_FILE },
  };
  records.forEach((r, i) => {
    const problem = recordPathProblem(r.path, input.imageRoot ?? dir, input.allowOutsideRoot === true);
    if (problem) throw new Error(`image record ${i}: ${problem}`);
  });
  const normalised = l2NormalizeRows(embeddings);
  writeDirAtomic(dir, (tmp) => {
    writeNpy(path.join(tmp, INDEX_EMBEDDINGS), {
      dtype: '<f4',
      shape: [embeddings.n, embeddings.d],
      data: normalised.data,
    });
    writeMetadata(path.join(tmp, METADATA_FILE), records);
    writeJsonAtomic(path.join(tmp, INDEX_MANIFEST), manifest);
  });
  return manifest;
}

/**
 * Why writing an index to `dir` would destroy something else, or undefined
 * when `dir` is missing, empty, or an index already (which is then rebuilt).
 * Writing replaces the whole folder, so a folder of other files (`--out .`)
 * or a plain file there would be lost.
 */
export function indexTargetProblem(dir: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return undefined;
  }
  if (!st.isDirectory()) return `${dir} is a file, not an index folder; writing the index would replace it`;
  const names = fs.readdirSync(dir);
  if (names.length === 0) return undefined;
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, INDEX_MANIFEST), 'utf8')) as { format?: unknown };
    if (manifest?.format === INDEX_FORMAT) return undefined;
  } catch {
    // not an index
  }
  return `${dir} holds ${names.length} other file(s) or folder(s) (e.g. ${names.slice(0, 3).join(', ')}) and is not an index; writing the index would delete them`;
}

/** Embeds images with the caller's model, then builds the index. */
export async function buildIndexFromImages(
  dir: string,
  input: {
    records: readonly ImageRecord[];
    model: ModelReference;
    imageRoot?: string;
    embedder: Embedder;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<IndexManifest> {
  const paths = input.records.map((r) =>
    input.imageRoot && !path.isAbsolute(r.path) ? path.join(input.imageRoot, r.path) : r.path,
  );
  const data = await input.embedder(paths, input.onProgress);
  const n = input.records.length;
  if (n === 0) throw new Error('no images to index');
  if (data.length % n !== 0)
    throw new Error(`the embedder returned ${data.length} values for ${n} images, not a whole number per image`);
  return buildIndex(dir, {
    embeddings: { data, n, d: data.length / n },
    records: input.records,
    model: input.model,
    ...(input.imageRoot ? { imageRoot: input.imageRoot } : {}),
  });
}

export interface SearchHit {
  /** 1-based. */
  rank: number;
  /** Row in the index. */
  index: number;
  /** Cosine similarity. */
  score: number;
  record: ImageRecord;
}

export interface SearchOptions {
  k: number;
  /** Leave out this index row (e.g. the query image itself when it is in the index). */
  excludeIndex?: number;
}

export class ImageIndex {
  private gallery?: PreparedGallery;

  constructor(
    readonly dir: string,
    readonly manifest: IndexManifest,
    /** L2-normalised rows. */
    readonly embeddings: EmbeddingMatrix,
    readonly records: ImageRecord[],
  ) {}

  get count(): number {
    return this.manifest.count;
  }

  /** Absolute path of row i's image (records may hold paths relative to the index's image root). */
  imagePath(i: number): string {
    const p = this.records[i]!.path;
    if (path.isAbsolute(p)) return p;
    return path.resolve(this.dir, this.manifest.image_root ?? '.', p);
  }

  /** Top-k rows for each query embedding (not necessarily normalised), best first. Needs an active tf backend. */
  search(queries: EmbeddingMatrix, options: SearchOptions): SearchHit[][] {
    if (queries.d !== this.manifest.dim) {
      throw new Error(
        `query embeddings have ${queries.d} dimensions, the index ${this.manifest.dim}: embed the query with the index's model (${this.manifest.model.name})`,
      );
    }
    if (!this.gallery) {
      this.gallery = prepareGallery(this.embeddings);
      keepOnDevice(this.gallery);
    }
    const exclude =
      options.excludeIndex !== undefined ? new Int32Array(queries.n).fill(options.excludeIndex) : undefined;
    const found = searchExact(queries, this.gallery, { k: options.k, ...(exclude ? { exclude } : {}) });
    const out: SearchHit[][] = [];
    for (let q = 0; q < queries.n; q++) {
      const hits: SearchHit[] = [];
      for (let j = 0; j < found.counts[q]!; j++) {
        const index = found.indices[q * found.k + j]!;
        hits.push({ rank: j + 1, index, score: found.scores[q * found.k + j]!, record: this.records[index]! });
      }
      out.push(hits);
    }
    return out;
  }

  /** Free the tf memory searches keep (the index stays usable; the next search uploads again). */
  dispose(): void {
    if (this.gallery) releaseFromDevice(this.gallery);
    this.gallery = undefined;
  }
}

/** The data files' rule (imagePaths.ts) applied to an index record's path; undefined when it is fine. */
function recordPathProblem(p: string, root: string, allowOutsideRoot: boolean): string | undefined {
  if (typeof p !== 'string') return undefined;
  const r = resolveImagePath(p, root, allowOutsideRoot);
  return r.ok
    ? undefined
    : r.message
        .replace(
          '(set allow_absolute_paths: true to allow it)',
          '(an index allows that only when built from data with allow_absolute_paths: true)',
        )
        .replace(
          '(set allow_absolute_paths: true to allow them)',
          '(an index allows that only when built from data with allow_absolute_paths: true)',
        );
}

export function loadIndex(dir: string): ImageIndex {
  const manifestFile = path.join(dir, INDEX_MANIFEST);
  let manifest: IndexManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as IndexManifest;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new Error(`${manifestFile}: not found; ${dir} is not an index (build one with \`vembed index build\`)`, {
        cause: e,
      });
    throw new Error(`${manifestFile}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (manifest?.format !== INDEX_FORMAT)
    throw new Error(`${manifestFile}: "format" is ${JSON.stringify(manifest?.format)}, expected "${INDEX_FORMAT}"`);
  if (manifest.version !== 1)
    throw new Error(
      `${manifestFile}: version ${JSON.stringify(manifest.version)} is not supported (this vembed reads version 1)`,
    );
  for (const key of ['dim', 'count'] as const) {
    if (!Number.isInteger(manifest[key]) || manifest[key] < 0)
      throw new Error(
        `${manifestFile}: "${key}" must be a non-negative integer, found ${JSON.stringify(manifest[key])}`,
      );
  }
  const embeddingsFile = path.join(dir, manifest.files?.embeddings ?? INDEX_EMBEDDINGS);
  const array = readNpy(embeddingsFile);
  expectNpy(array, ['<f4'], 2, embeddingsFile);
  if (array.shape[0] !== manifest.count || array.shape[1] !== manifest.dim) {
    throw new Error(
      `${embeddingsFile}: shape (${array.shape.join(', ')}) does not match ${INDEX_MANIFEST} (count ${manifest.count}, dim ${manifest.dim}); rebuild the index`,
    );
  }
  const metadataFile = path.join(dir, manifest.files?.metadata ?? METADATA_FILE);
  const records = readMetadata(metadataFile);
  if (records.length !== manifest.count) {
    throw new Error(`${metadataFile}: ${records.length} records for ${manifest.count} embeddings; rebuild the index`);
  }
  // Search results are opened and shown: a record may not point outside the index's image root.
  const root = path.resolve(dir, manifest.image_root ?? '.');
  const bad = records.findIndex(
    (r) => recordPathProblem(r.path, root, manifest.allow_outside_root === true) !== undefined,
  );
  if (bad >= 0) {
    throw new Error(
      `${metadataFile}:${metadataLine(metadataFile, bad)}: ${recordPathProblem(records[bad]!.path, root, manifest.allow_outside_root === true)}`,
    );
  }
  let embeddings: EmbeddingMatrix = { data: array.data as Float32Array, n: manifest.count, d: manifest.dim };
  // An index written by another tool may hold raw embeddings; cosine search needs unit rows.
  if (!manifest.normalised) embeddings = l2NormalizeRows(embeddings);
  return new ImageIndex(dir, manifest, embeddings, records);
}

/** The 1-based line of the `index`-th record (blank lines are skipped when reading). */
function metadataLine(file: string, index: number): number {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  let seen = -1;
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    if (++seen === index) return i + 1;
  }
  return index + 1;
}
