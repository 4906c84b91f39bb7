/**
 * The pretraining set of the demo model: Openclipart drawings that are NOT in
 * the sample data set, each photographed in several random views, written as
 * JPEGs plus JSONL files of pairs in which each drawing is its own "label"
 * (instance discrimination; no human label is used). `writePairs` says what
 * a query's positive is.
 *
 * Drawings are picked with the sample set's own rules (scripts/sample-data):
 * the same prechecks, rendering and duplicate test. Folders that the sample
 * set does not use come first; the sample's folders only fill up the rest,
 * with other drawings than the sample's. A drawing equal to a sample drawing
 * (same file contents, or a thumbnail nearly identical to one) is left out,
 * so that the demo's test products are never seen in pretraining.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../src/shared/fs/atomic';
import { Rng } from '../../src/engine/util/rng';
import {
  listSvgs,
  precheck,
  renderDrawing,
  sha1,
  thumbnail,
  thumbnailDistance,
  type Drawing,
} from '../sample-data/drawings';
import { renderView } from '../sample-data/views';

export interface PretrainSetOptions {
  /** Openclipart's svg folder, e.g. /usr/share/openclipart/svg. */
  sourceRoot: string;
  /** The sample data set's SOURCES.tsv: its drawings are excluded. */
  sampleSources: string;
  /** Folder the images, pairs.jsonl and SOURCES.tsv are written to (replaced). */
  outDir: string;
  drawings: number;
  viewsPerDrawing: number;
  /** At most this many drawings from any one folder, so that no folder (e.g. 1,400 stars) dominates. */
  perFolderCap: number;
  seed: number;
  log: (line: string) => void;
}

export interface PretrainSet {
  /** Folder holding the images (see `viewPath`) and SOURCES.tsv; pair files are written here too. */
  imageRoot: string;
  drawings: number;
  viewsPerDrawing: number;
  images: number;
  /** Drawings taken from folders the sample set does not use. */
  fromOtherFolders: number;
  /** Drawings by top-level Openclipart folder. */
  byFolder: Record<string, number>;
  /** Candidates left out because they are (or look like) a sample drawing. */
  excludedAsSample: number;
  seconds: number;
}

/** Thumbnails closer than this (mean absolute grey difference, 0..255) count as the same drawing. */
const DUPLICATE_DISTANCE = 6;
/** Wider margin against the sample's drawings: better to drop a look-alike than to leak a test product. */
const SAMPLE_LOOKALIKE_DISTANCE = 10;
const MANIFEST = 'manifest.json';

/** The sample set's drawings (paths relative to the Openclipart svg folder) and its top-level folders. */
export function readSampleSources(file: string): { drawings: string[]; folders: Set<string> } {
  if (!fs.existsSync(file))
    throw new Error(
      `${file} not found: the sample data set (data/sample-sop) is needed to know which drawings to exclude`,
    );
  const lines = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const header = lines[0]?.split('\t') ?? [];
  const col = header.indexOf('source');
  if (col < 0) throw new Error(`${file}:1: expected a header with a \`source\` column, got "${lines[0] ?? ''}"`);
  const drawings = lines.slice(1).map((l, i) => {
    const source = l.split('\t')[col];
    if (!source?.startsWith('openclipart-svg/'))
      throw new Error(`${file}:${i + 2}: source "${source ?? ''}" does not start with openclipart-svg/`);
    return source.slice('openclipart-svg/'.length);
  });
  return { drawings, folders: new Set(drawings.map((d) => d.split('/')[0]!)) };
}

/** Candidate drawings: other folders first, then the sample's folders; each tier shuffled. */
function candidates(root: string, sampleFolders: Set<string>, rng: Rng): { rel: string; otherFolder: boolean }[] {
  const folders = fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const tier = (other: boolean) =>
    rng
      .shuffle(folders.filter((f) => sampleFolders.has(f) !== other).flatMap((f) => listSvgs(root, f)))
      .map((rel) => ({ rel, otherFolder: other }));
  return [...tier(true), ...tier(false)];
}

interface ManifestFacts {
  /** Bumped when the folder's layout changes, so that an older set is rebuilt, not misread. */
  format: number;
  seed: number;
  drawings: number;
  viewsPerDrawing: number;
  perFolderCap: number;
  sampleSourcesSha1: string;
}

/** The set already in `outDir`, when it was built from the same settings. */
function reusable(outDir: string, facts: ManifestFacts): PretrainSet | undefined {
  const file = path.join(outDir, MANIFEST);
  if (!fs.existsSync(file)) return undefined;
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { facts: ManifestFacts; set: PretrainSet };
  if (JSON.stringify(m.facts) !== JSON.stringify(facts)) return undefined;
  // Paths follow the folder, wherever the checkout now is.
  return { ...m.set, imageRoot: outDir };
}

export async function buildPretrainSet(o: PretrainSetOptions): Promise<PretrainSet> {
  const facts: ManifestFacts = {
    format: 2,
    seed: o.seed,
    drawings: o.drawings,
    viewsPerDrawing: o.viewsPerDrawing,
    perFolderCap: o.perFolderCap,
    sampleSourcesSha1: sha1(o.sampleSources),
  };
  const cached = reusable(o.outDir, facts);
  if (cached) {
    o.log(`pretraining set: reusing ${cached.drawings} drawings / ${cached.images} images in ${o.outDir}`);
    return cached;
  }
  if (!fs.existsSync(o.sourceRoot))
    throw new Error(
      `${o.sourceRoot} not found: install Debian's openclipart-svg package (apt-get install openclipart-svg)`,
    );
  const started = Date.now();
  const rng = new Rng(o.seed);
  const sample = readSampleSources(o.sampleSources);

  // What the sample set holds, to recognise it under another name.
  const sampleHashes = new Set<string>();
  const sampleThumbs: Uint8Array[] = [];
  for (const rel of sample.drawings) {
    const file = path.join(o.sourceRoot, rel);
    if (!fs.existsSync(file))
      throw new Error(
        `${o.sampleSources}: ${rel} is not in ${o.sourceRoot}; is this the openclipart-svg package the sample set was made from?`,
      );
    sampleHashes.add(sha1(file));
    const d = await renderDrawing(o.sourceRoot, rel);
    if (typeof d !== 'string') sampleThumbs.push(await thumbnail(d));
  }
  const sampleSet = new Set(sample.drawings);

  const picked: { drawing: Drawing; otherFolder: boolean }[] = [];
  const perFolder = new Map<string, number>();
  const seenHashes = new Set<string>();
  const seenThumbs: Uint8Array[] = [];
  let excludedAsSample = 0;
  for (const c of candidates(o.sourceRoot, sample.folders, rng.fork())) {
    if (picked.length === o.drawings) break;
    const folder = path.dirname(c.rel);
    if ((perFolder.get(folder) ?? 0) >= o.perFolderCap) continue;
    if (sampleSet.has(c.rel)) {
      excludedAsSample++;
      continue;
    }
    if (precheck(o.sourceRoot, c.rel)) continue;
    const hash = sha1(path.join(o.sourceRoot, c.rel));
    if (sampleHashes.has(hash)) {
      excludedAsSample++;
      continue;
    }
    if (seenHashes.has(hash)) continue;
    const d = await renderDrawing(o.sourceRoot, c.rel);
    if (typeof d === 'string') continue;
    const thumb = await thumbnail(d);
    if (sampleThumbs.some((t) => thumbnailDistance(t, thumb) < SAMPLE_LOOKALIKE_DISTANCE)) {
      excludedAsSample++;
      continue;
    }
    if (seenThumbs.some((t) => thumbnailDistance(t, thumb) < DUPLICATE_DISTANCE)) continue;
    seenHashes.add(hash);
    seenThumbs.push(thumb);
    perFolder.set(folder, (perFolder.get(folder) ?? 0) + 1);
    picked.push({ drawing: d, otherFolder: c.otherFolder });
  }
  if (picked.length < o.drawings)
    o.log(`pretraining set: only ${picked.length} usable drawings (asked for ${o.drawings})`);
  o.log(
    `pretraining set: ${picked.length} drawings chosen in ${((Date.now() - started) / 1000).toFixed(0)} s; rendering ${o.viewsPerDrawing} views each`,
  );

  fs.rmSync(o.outDir, { recursive: true, force: true });
  const sources: string[] = ['label\tsource'];
  const byFolder: Record<string, number> = {};
  const viewRngs = picked.map(() => rng.fork());
  for (const [i, { drawing }] of picked.entries()) {
    const top = drawing.source.split('/')[0]!;
    byFolder[top] = (byFolder[top] ?? 0) + 1;
    const vr = viewRngs[i]!;
    for (let v = 0; v < o.viewsPerDrawing; v++) {
      const file = path.join(o.outDir, viewPath(i, v));
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, await renderView(drawing, vr.fork()));
    }
    sources.push(`${i + 1}\topenclipart-svg/${drawing.source}`);
    if ((i + 1) % 200 === 0) o.log(`pretraining set: rendered ${i + 1}/${picked.length} drawings`);
  }
  fs.writeFileSync(path.join(o.outDir, 'SOURCES.tsv'), sources.join('\n') + '\n');
  const set: PretrainSet = {
    imageRoot: o.outDir,
    drawings: picked.length,
    viewsPerDrawing: o.viewsPerDrawing,
    images: picked.length * o.viewsPerDrawing,
    fromOtherFolders: picked.filter((p) => p.otherFolder).length,
    byFolder,
    excludedAsSample,
    seconds: (Date.now() - started) / 1000,
  };
  // Written last: a set without a manifest is never reused.
  fs.writeFileSync(path.join(o.outDir, MANIFEST), JSON.stringify({ facts, set }, null, 2) + '\n');
  o.log(`pretraining set: ${set.images} images of ${set.drawings} drawings in ${set.seconds.toFixed(0)} s`);
  return set;
}

/** Where view `v` of the `index`-th drawing (0-based; its label is index + 1) is, relative to the set's folder. */
export function viewPath(index: number, v: number): string {
  return `images/${String(Math.floor(index / 100)).padStart(3, '0')}/${index + 1}_${v}.jpg`;
}

/**
 * Which picture is a query's positive; either way the label is the drawing.
 * - `views`: another view of the same drawing (different background, pose, light);
 * - `self`: the same view, which the trainer augments independently on each
 *   side (random crop, flip, colour jitter): self-supervised instance
 *   discrimination, where the invariances between views are left for fine-tuning.
 */
export type PositiveMode = 'views' | 'self';

/** Write `pairs-<mode>.jsonl` into the set's folder: every view is a query once per epoch. */
export function writePairs(set: PretrainSet, mode: PositiveMode, seed: number): string {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let i = 0; i < set.drawings; i++) {
    const n = set.viewsPerDrawing;
    for (let v = 0; v < n; v++) {
      const other = mode === 'self' || n === 1 ? v : (v + 1 + rng.int(n - 1)) % n;
      lines.push(JSON.stringify({ query_image: viewPath(i, v), positive: viewPath(i, other), label: i + 1 }));
    }
  }
  const file = path.join(set.imageRoot, `pairs-${mode}.jsonl`);
  writeFileAtomic(file, lines.join('\n') + '\n');
  return file;
}
