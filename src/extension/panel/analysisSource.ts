/**
 * The Analysis tab's data: the gallery's benchmark (the model after
 * fine-tuning) set against a benchmark of the same images before it, as two
 * embeddings maps (each folder's `embedding_map.json`) and an error analysis
 * (src/shared/analysis/errorAnalysis.ts, from both neighbours files).
 *
 * The "before" folder is the first of these that holds neighbours of the same
 * images, in the same order, as the gallery:
 *   - `eval-before/` beside an `eval-latest/` gallery (training keeps epoch 0's evaluation there);
 *   - `<run>/eval-before/`, `<run>/zero-shot/` (the demo's zero-shot benchmark);
 *   - the folder of the run's "before" report, when the events name one;
 *   - `eval-before/` or `zero-shot/` up to two levels above the gallery's folder (a checkpoint's
 *     `benchmark-sop/` opened on its own, inside a run folder like the demo's).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMetadata } from '../../shared/artifacts/metadataFile';
import { readNeighbours, type LoadedNeighbours } from '../../shared/artifacts/neighboursFile';
import { EMBEDDING_MAP_FILE, parseEmbeddingMap } from '../../shared/artifacts/embeddingMap';
import { analyseErrors } from '../../shared/analysis/errorAnalysis';
import type { AnalysisData, GalleryImage, MapSide } from '../../shared/panelProtocol';

const NEIGHBOURS = 'neighbours.json';
/** Folder names of a "before" benchmark, relative to the run folder. */
export const BEFORE_FOLDERS = ['eval-before', 'zero-shot'];
/** Queries and pairs listed in the panel's error analysis. */
const TOP = 25;

export interface AnalysisInput {
  runDir: string;
  /** The gallery's neighbours.json: its folder is the "after" benchmark. */
  galleryManifest: string;
  images: readonly GalleryImage[];
  /** The run's "before" report, when known. */
  beforeReport?: string;
}

/** Candidate "before" folders, in order of preference, without the gallery's own. */
export function beforeCandidates(input: AnalysisInput): string[] {
  const afterDir = path.dirname(input.galleryManifest);
  const list = [
    path.join(path.dirname(afterDir), 'eval-before'),
    ...BEFORE_FOLDERS.map((f) => path.join(input.runDir, f)),
    ...(input.beforeReport ? [path.dirname(input.beforeReport)] : []),
    ...[1, 2].flatMap((up) => BEFORE_FOLDERS.map((f) => path.join(afterDir, ...Array<string>(up).fill('..'), f))),
  ].map((p) => path.resolve(p));
  return [...new Set(list)].filter((d) => d !== path.resolve(afterDir));
}

/** Neighbours of `dir` when its metadata lists exactly the gallery's image paths; else undefined. */
function sameImages(dir: string, images: readonly GalleryImage[]): LoadedNeighbours | undefined {
  const manifest = path.join(dir, NEIGHBOURS);
  if (!fs.existsSync(manifest)) return undefined;
  try {
    const table = readNeighbours(manifest);
    if (!table.manifest.metadata || table.numQueries !== images.length) return undefined;
    const records = readMetadata(path.join(dir, table.manifest.metadata));
    return records.length === images.length && records.every((r, i) => r.path === images[i]!.path) ? table : undefined;
  } catch {
    return undefined;
  }
}

function mapSide(dir: string, label: string, count: number, notes: string[]): MapSide | undefined {
  const file = path.join(dir, EMBEDDING_MAP_FILE);
  if (!fs.existsSync(file)) {
    notes.push(`${label}: no ${EMBEDDING_MAP_FILE} in ${dir}; make it with \`vembed benchmark map ${dir}\`.`);
    return undefined;
  }
  try {
    const m = parseEmbeddingMap(fs.readFileSync(file, 'utf8'), file);
    if (m.numPoints !== count) {
      notes.push(`${file}: ${m.numPoints} points for ${count} images; run \`vembed benchmark map ${dir}\` again.`);
      return undefined;
    }
    return {
      label,
      method: m.method,
      seconds: m.seconds,
      varianceRatio: m.varianceRatio,
      x: Array.from(m.x),
      y: Array.from(m.y),
    };
  } catch (e) {
    notes.push((e as Error).message);
    return undefined;
  }
}

/** The Analysis tab's data for a gallery; null with a reason when nothing at all can be shown. */
export function loadAnalysis(input: AnalysisInput): { analysis: AnalysisData | null; reason?: string } {
  const afterDir = path.dirname(input.galleryManifest);
  const notes: string[] = [];
  const after = mapSide(afterDir, `after: ${path.basename(afterDir)}`, input.images.length, notes);
  let beforeDir: string | undefined;
  let beforeTable: LoadedNeighbours | undefined;
  for (const dir of beforeCandidates(input)) {
    beforeTable = sameImages(dir, input.images);
    if (beforeTable) {
      beforeDir = dir;
      break;
    }
  }
  const analysis: AnalysisData = { notes };
  if (after) analysis.after = after;
  if (beforeDir && beforeTable) {
    const before = mapSide(beforeDir, `before: ${path.basename(beforeDir)}`, input.images.length, notes);
    if (before) analysis.before = before;
    try {
      const afterTable = readNeighbours(input.galleryManifest);
      analysis.errors = analyseErrors(
        beforeTable,
        afterTable,
        input.images.map((im) => ({
          label: im.label,
          ...(im.superClass !== undefined ? { superClass: im.superClass } : {}),
        })),
        { topQueries: TOP, topPairs: TOP },
      );
    } catch (e) {
      notes.push(`Error analysis: ${(e as Error).message}`);
    }
  } else {
    notes.push(
      `No benchmark of the same images before fine-tuning (looked for ${BEFORE_FOLDERS.map((f) => `${f}/`).join(' and ')} in ${input.runDir} and above ${afterDir}): the map shows the current model only, and there is no error analysis. Training keeps epoch 0's evaluation in eval-before/; \`vembed benchmark sop\` of the starting model into zero-shot/ gives one too.`,
    );
  }
  if (!analysis.after && !analysis.before && !analysis.errors)
    return { analysis: null, reason: notes.join(' ') || 'No embeddings map for this run.' };
  return { analysis };
}
