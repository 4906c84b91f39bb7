/**
 * The model-free data-health check where data comes in: after `prepare-sop`
 * (on the SOP lists) and before training (on data_path and val_data_path).
 * It reports and writes `data-health.json`; it never changes the data.
 */
import * as path from 'node:path';
import {
  checkDataHealth,
  formatDataHealth,
  hasLeakage,
  type DataHealthReport,
  type HealthImage,
} from '../data/dataHealth';
import { healthImagesFromPairs, healthImagesFromSop } from '../data/healthSources';
import type { LoadedPairs } from '../data/pairDataset';
import type { ListedImage as PreparedImage } from '../data/productLayout';
import { DATA_HEALTH_FILE, type Split } from '../../shared/artifacts/dataHealthFile';
import { writeJsonAtomic } from '../../shared/fs/atomic';
import type { Reporter } from '../report/reporter';
import { addNearDuplicates, type EmbedPaths } from './nearDuplicateCheck';
import { embedImages } from './embed';
import type { TrainConfig } from '../../shared/config/schema';
import type { ImageEncoder } from '../model/types';
import type { ImageLoader } from '../image/loader';

export { DATA_HEALTH_FILE };

export interface HealthOutcome {
  report: DataHealthReport;
  file: string;
  text: string;
  leakage: boolean;
}

type Progress = (done: number, total: number) => void;

/** The embedding part, when a model is at hand: see nearDuplicateCheck.ts. */
export interface NearDuplicateOptions {
  model: string;
  threshold: number;
  dim: number;
  embed: EmbedPaths;
}

async function run(
  images: HealthImage[],
  file: string,
  imageRoots: Partial<Record<Split, string>>,
  onProgress?: Progress,
  nearDuplicates?: NearDuplicateOptions,
): Promise<HealthOutcome> {
  // The roots let a reader (the results panel) find the listed images from their relative paths.
  let report: DataHealthReport = { ...(await checkDataHealth(images, onProgress)), imageRoots };
  if (nearDuplicates) report = await addNearDuplicates(report, images, { ...nearDuplicates, onProgress });
  writeJsonAtomic(file, report);
  return { report, file, text: formatDataHealth(report, file), leakage: hasLeakage(report) };
}

export function checkSopHealth(sopRoot: string, onProgress?: Progress): Promise<HealthOutcome> {
  const root = path.resolve(sopRoot);
  return run(healthImagesFromSop(sopRoot), path.join(root, DATA_HEALTH_FILE), { train: root, test: root }, onProgress);
}

/** After `prepare-data`: its two splits (val plays the test split); the report goes beside the JSONL files. */
export function checkPreparedHealth(
  splits: { train: readonly PreparedImage[]; val: readonly PreparedImage[] },
  imageRoot: string,
  outDir: string,
  onProgress?: Progress,
): Promise<HealthOutcome> {
  const images = (['train', 'val'] as const).flatMap((split) =>
    splits[split].map((i): HealthImage => ({
      path: i.abs,
      shown: i.path,
      product: String(i.product),
      split: split === 'val' ? 'test' : 'train',
    })),
  );
  const root = path.resolve(imageRoot);
  return run(images, path.join(outDir, DATA_HEALTH_FILE), { train: root, test: root }, onProgress);
}

/** Training data: val_data_path plays the test split. The report goes into the run's output_dir. */
export function checkTrainingDataHealth(
  train: LoadedPairs,
  val: LoadedPairs | undefined,
  outputDir: string,
  onProgress?: Progress,
  nearDuplicates?: NearDuplicateOptions,
): Promise<HealthOutcome> {
  const sets = [{ split: 'train' as const, ...train }, ...(val ? [{ split: 'test' as const, ...val }] : [])];
  const roots = { train: path.resolve(train.imageRoot), ...(val ? { test: path.resolve(val.imageRoot) } : {}) };
  return run(healthImagesFromPairs(sets), path.join(outputDir, DATA_HEALTH_FILE), roots, onProgress, nearDuplicates);
}

/** With near_duplicate_threshold: the training run's check also embeds, with the starting model. */
export function nearDuplicateOptionsFor(
  config: Pick<TrainConfig, 'near_duplicate_threshold' | 'model_name' | 'eval_batch_size' | 'batch_size'>,
  encoder: ImageEncoder,
  loader: ImageLoader,
): NearDuplicateOptions | undefined {
  if (config.near_duplicate_threshold === null) return undefined;
  const batchSize = config.eval_batch_size ?? Math.min(config.batch_size, 64);
  return {
    model: config.model_name,
    threshold: config.near_duplicate_threshold,
    dim: encoder.embeddingDim,
    embed: (paths, onProgress) =>
      embedImages(encoder, loader, paths, { batchSize, ...(onProgress ? { onProgress } : {}) }),
  };
}

/** The check before training, told as one log line (a `leakage` warning when there is leakage). */
export async function reportTrainingDataHealth(
  train: LoadedPairs,
  val: LoadedPairs | undefined,
  outputDir: string,
  reporter: Reporter,
  nearDuplicates?: NearDuplicateOptions,
): Promise<HealthOutcome> {
  const health = await checkTrainingDataHealth(
    train,
    val,
    outputDir,
    (done, total) => reporter.event({ type: 'progress', task: 'checking data health', done, total, unit: 'images' }),
    nearDuplicates,
  );
  if (health.leakage) warnLeakage(reporter, healthLine(health), health.file);
  else reporter.info(healthLine(health));
  return health;
}

/**
 * The `leakage` warning, naming the report in the event's `file` so that a
 * client (the VS Code extension) can offer to open it.
 */
export function warnLeakage(reporter: Reporter, message: string, reportFile: string): void {
  reporter.event({ type: 'warning', code: 'leakage', message, file: reportFile });
}

/** One line for a training run's log: the counts, and where the lists are. */
export function healthLine(h: HealthOutcome): string {
  const r = h.report;
  const crossSplit = [...r.samePath, ...r.sameContent].filter((g) => g.crossSplit).length;
  const near = r.nearDuplicates;
  const twoProducts = [...r.samePath, ...r.sameContent].filter((g) => g.crossProduct && !g.crossSplit).length;
  const parts = [
    `${r.singleImageProducts.length} single-image product(s)`,
    `${twoProducts} image(s) under two products`,
    h.leakage
      ? `LEAKAGE: ${crossSplit} image(s) in both train and validation, ${r.productsInBothSplits.length} product(s) in both` +
        (near ? `, ${near.pairs.length} near-duplicate pair(s) at cosine >= ${near.threshold}` : '')
      : `no train/validation leakage by path or content${near ? ` or embeddings (cosine >= ${near.threshold})` : ''}`,
  ];
  const hint = near ? '' : '; near_duplicate_threshold or `vembed check-data --model_path` also compare embeddings';
  return `data health: ${parts.join(', ')} (lists in ${h.file}${hint})`;
}
