/**
 * What a benchmark run leaves in its output folder:
 *
 *   sop_report.json   metrics (`recall@1`, `recall@10`, `recall@100`, `recall@1000`, `map@r`
 *                     as fractions in [0, 1]), `num_images`, `num_valid_queries`, the protocol,
 *                     and what the caller passes in `run` (model, backend, timing, ...)
 *   sop_report.md     the same as a Markdown table
 *   embeddings.npy    float32 [N, D] in image-list order (Ebay_test.txt), as the model produced
 *                     them: NOT L2-normalised
 *   labels.npy        int64 [N] class ids, same order
 *   metadata.jsonl    one {"path", "label", ...} line per image, when the caller knows the paths
 *   neighbours.json + *.npy   nearest neighbours per query (neighboursFile.ts)
 *   embedding_map.json        2-D PCA map of the embeddings (../analysis/embeddingMap.ts)
 *
 * Every file is written atomically.
 */
import { metricKeys } from '../../shared/artifacts/reportFile';
import { metricLabel } from '../../shared/metrics';
import * as path from 'node:path';
import { makeDirs } from '../../shared/fs/makeDirs';
import { writeFileAtomic, writeJsonAtomic } from '../../shared/fs/atomic';
import { writeNpy } from '../../shared/artifacts/npy';
import type { EmbeddingMatrix } from './embeddings';
import type { RetrievalEvaluation } from './evaluate';
import { METADATA_FILE, writeMetadata, type ImageRecord } from '../../shared/artifacts/metadataFile';
import { TIE_RULE, writeNeighbours } from '../../shared/artifacts/neighboursFile';
import { writeEmbeddingMap } from '../analysis/embeddingMap';

export const REPORT_JSON = 'sop_report.json';
export const REPORT_MARKDOWN = 'sop_report.md';

/** What the caller knows about the run; copied into the report as is (after the metrics). */
export interface RunInfo {
  /** Model id or folder (and checkpoint). */
  model: string;
  backend: string;
  device?: string;
  /** Seconds per phase, e.g. { embedding: 812.4 }; the search time is added. */
  timing?: Record<string, number>;
  [key: string]: unknown;
}

export interface SopReport {
  'recall@1'?: number;
  'recall@10'?: number;
  'recall@100'?: number;
  'recall@1000'?: number;
  'map@r': number;
  num_images: number;
  num_valid_queries: number;
  num_classes: number;
  model: string;
  backend: string;
  [key: string]: unknown;
}

export interface SopOutputs {
  evaluation: RetrievalEvaluation;
  /** As the model produced them (not normalised), in image-list order. */
  embeddings: EmbeddingMatrix;
  labels: ArrayLike<number>;
  /** Image paths (relative to imageRoot), in the same order; written to metadata.jsonl with the labels. */
  paths?: readonly string[];
  /** Or whole records (path, label, super_class, ...), in the same order; wins over `paths`. */
  records?: readonly ImageRecord[];
  imageRoot?: string;
  run: RunInfo;
}

export interface SopOutputFiles {
  report: string;
  markdown: string;
  embeddings: string;
  labels: string;
  neighbours: string;
  metadata?: string;
  map?: string;
}

export function buildReport(evaluation: RetrievalEvaluation, run: RunInfo): SopReport {
  const { model, backend, timing, ...rest } = run;
  return {
    ...evaluation.metrics,
    'map@r': evaluation.metrics['map@r']!,
    num_images: evaluation.numImages,
    num_valid_queries: evaluation.numValidQueries,
    num_classes: evaluation.numClasses,
    model,
    backend,
    ...rest,
    timing: { ...(timing ?? {}), search_seconds: round(evaluation.seconds, 3) },
    search_threads: evaluation.threads,
    protocol: {
      name: 'sop',
      query: 'every image, L2-normalised, against all the other images (itself excluded) by cosine similarity',
      gallery_size: evaluation.gallerySize,
      valid_query: 'its class has at least one other image; other queries count in no metric',
      recall_at_k: 'share of valid queries with an image of their class among their K nearest',
      ...(evaluation.clippedKs.length > 0 ? { recall_k_clipped_to_gallery: evaluation.clippedKs } : {}),
      map_at_r:
        'Musgrave et al. 2020: mean over valid queries of (1/R) sum_{i<=R} P(i) rel(i), R = other images of the class',
      ties: TIE_RULE,
      values: 'fractions in [0, 1]',
    },
    created: new Date().toISOString(),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const percent = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : `${(100 * v).toFixed(2)}%`;

export function formatReportMarkdown(
  report: SopReport,
  evaluation?: Pick<RetrievalEvaluation, 'gallerySize' | 'clippedKs'>,
): string {
  const rows = metricKeys(report).map((k) => `| ${metricLabel(k)} | ${percent(report[k] as number)} |`);
  const timing = (report.timing ?? {}) as Record<string, number>;
  const times = Object.entries(timing)
    .map(([k, v]) => `${k.replace(/_seconds$/, '')} ${v.toFixed(1)} s`)
    .join(', ');
  const lines = [
    `# SOP benchmark: ${report.model}`,
    '',
    '| Metric | Value |',
    '|---|---:|',
    ...rows,
    '',
    `${report.num_images} images in ${report.num_classes} classes; ${report.num_valid_queries} valid queries (a query whose class has no other image does not count).`,
    `Each image queries the other ${evaluation?.gallerySize ?? report.num_images - 1} images by cosine similarity of L2-normalised embeddings; equal similarities rank the lower image index first.`,
  ];
  if (evaluation && evaluation.clippedKs.length > 0) {
    lines.push(
      `Recall@${evaluation.clippedKs.join(', @')}: K exceeds the gallery, so every valid query succeeds (value 100%).`,
    );
  }
  lines.push(
    '',
    `Backend: ${report.backend}${report.device ? ` (${String(report.device)})` : ''}.${times ? ` Time: ${times}.` : ''}`,
    '',
  );
  return lines.join('\n');
}

export function writeSopOutputs(dir: string, out: SopOutputs): SopOutputFiles {
  const { evaluation, embeddings, labels } = out;
  if (embeddings.n !== evaluation.numImages || labels.length !== embeddings.n) {
    throw new Error(
      `outputs disagree: ${embeddings.n} embeddings, ${labels.length} labels, ${evaluation.numImages} evaluated images`,
    );
  }
  const records = out.records ?? out.paths?.map((p, i): ImageRecord => ({ path: p, label: labels[i]! }));
  if (records && records.length !== embeddings.n)
    throw new Error(`${records.length} image records for ${embeddings.n} embeddings`);
  makeDirs(dir);

  const files: SopOutputFiles = {
    report: path.join(dir, REPORT_JSON),
    markdown: path.join(dir, REPORT_MARKDOWN),
    embeddings: path.join(dir, 'embeddings.npy'),
    labels: path.join(dir, 'labels.npy'),
    neighbours: '',
  };
  writeNpy(files.embeddings, { dtype: '<f4', shape: [embeddings.n, embeddings.d], data: embeddings.data });
  writeNpy(files.labels, {
    dtype: '<i8',
    shape: [embeddings.n],
    data: BigInt64Array.from(Array.from(labels, (l) => BigInt(Math.trunc(l)))),
  });
  if (records) {
    files.metadata = path.join(dir, METADATA_FILE);
    writeMetadata(files.metadata, records);
  }
  const { neighbours: nb, neighbourSameClass, outcomes, rankCap } = evaluation;
  files.neighbours = writeNeighbours(
    dir,
    {
      numQueries: embeddings.n,
      k: nb.k,
      rankCap,
      indices: nb.indices,
      scores: nb.scores,
      sameClass: neighbourSameClass,
      firstCorrectRank: outcomes.firstCorrectRank,
    },
    records ? METADATA_FILE : undefined,
    out.imageRoot,
  );

  // The panel's embeddings map; its time goes into the report's timing.
  const map = writeEmbeddingMap(dir, embeddings);
  files.map = map.file;
  const run = { ...out.run, timing: { ...(out.run.timing ?? {}), projection_seconds: map.map.seconds } };
  const report = buildReport(evaluation, { ...run, ...(out.imageRoot ? { image_root: out.imageRoot } : {}) });
  report.files = {
    embeddings: 'embeddings.npy',
    map: path.basename(map.file),
    labels: 'labels.npy',
    neighbours: 'neighbours.json',
    ...(records ? { metadata: METADATA_FILE } : {}),
  };
  writeJsonAtomic(files.report, report);
  writeFileAtomic(files.markdown, formatReportMarkdown(report, evaluation));
  return files;
}
