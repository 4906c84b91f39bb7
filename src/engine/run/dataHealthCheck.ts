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
import { writeJsonAtomic } from '../../shared/fs/atomic';
import type { Reporter } from '../report/reporter';

export const DATA_HEALTH_FILE = 'data-health.json';

export interface HealthOutcome {
  report: DataHealthReport;
  file: string;
  text: string;
  leakage: boolean;
}

type Progress = (done: number, total: number) => void;

async function run(images: HealthImage[], file: string, onProgress?: Progress): Promise<HealthOutcome> {
  const report = await checkDataHealth(images, onProgress);
  writeJsonAtomic(file, report);
  return { report, file, text: formatDataHealth(report, file), leakage: hasLeakage(report) };
}

export function checkSopHealth(sopRoot: string, onProgress?: Progress): Promise<HealthOutcome> {
  return run(healthImagesFromSop(sopRoot), path.join(path.resolve(sopRoot), DATA_HEALTH_FILE), onProgress);
}

/** Training data: val_data_path plays the test split. The report goes into the run's output_dir. */
export function checkTrainingDataHealth(
  train: LoadedPairs,
  val: LoadedPairs | undefined,
  outputDir: string,
  onProgress?: Progress,
): Promise<HealthOutcome> {
  const sets = [{ split: 'train' as const, ...train }, ...(val ? [{ split: 'test' as const, ...val }] : [])];
  return run(healthImagesFromPairs(sets), path.join(outputDir, DATA_HEALTH_FILE), onProgress);
}

/** The check before training, told as one log line (a `leakage` warning when there is leakage). */
export async function reportTrainingDataHealth(
  train: LoadedPairs,
  val: LoadedPairs | undefined,
  outputDir: string,
  reporter: Reporter,
): Promise<HealthOutcome> {
  const health = await checkTrainingDataHealth(train, val, outputDir, (done, total) =>
    reporter.event({ type: 'progress', task: 'checking data health', done, total, unit: 'images' }),
  );
  if (health.leakage) reporter.warn(healthLine(health), 'leakage');
  else reporter.info(healthLine(health));
  return health;
}

/** One line for a training run's log: the counts, and where the lists are. */
export function healthLine(h: HealthOutcome): string {
  const r = h.report;
  const crossSplit = [...r.samePath, ...r.sameContent].filter((g) => g.crossSplit).length;
  const twoProducts = [...r.samePath, ...r.sameContent].filter((g) => g.crossProduct && !g.crossSplit).length;
  const parts = [
    `${r.singleImageProducts.length} single-image product(s)`,
    `${twoProducts} image(s) under two products`,
    h.leakage
      ? `LEAKAGE: ${crossSplit} image(s) in both train and validation, ${r.productsInBothSplits.length} product(s) in both`
      : 'no train/validation leakage by path or content',
  ];
  return `data health: ${parts.join(', ')} (lists in ${h.file}; \`vembed check-data --model_path\` also finds near-duplicates)`;
}
