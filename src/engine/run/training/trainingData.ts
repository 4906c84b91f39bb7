/**
 * The training and validation pairs of a run, checked before any model work:
 * every bad record is listed at once, with file and line.
 */
import type { TrainConfig } from '../../../shared/config/schema';
import { UserError } from '../../../shared/userError';
import type { Reporter } from '../../report/reporter';
import { ImageCheckAborted } from '../../data/imageCheck';
import { denseLabelIds, loadPairDataset, type LoadedPairs } from '../../data/pairDataset';
import { evaluationSet, type EvaluationSet } from '../evaluation';

export interface TrainingData {
  train: LoadedPairs;
  val?: LoadedPairs;
  /** The validation images as a retrieval set (each image queries all the others). */
  valSet?: EvaluationSet;
  /** Product label of each training record, as dense ids (the loss's in-batch positives). */
  labels: Int32Array;
}

/** The run's data, or 'stopped' when Ctrl+C came while the images were checked (nothing to save then). */
export async function loadTrainingData(
  config: TrainConfig,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<TrainingData | 'stopped'> {
  if (!config.data_path)
    throw new UserError(
      '`data_path` is not set: training needs a file of pairs.',
      'Set data_path in the config (for SOP: run `vembed prepare-sop` first).',
      'config',
    );
  const load = async (file: string, what: string): Promise<LoadedPairs> => {
    const loaded = await loadPairDataset(file, config, {
      signal,
      onProgress: (done, total) =>
        reporter.event({ type: 'progress', task: `checking ${what} images`, done, total, unit: 'images' }),
    });
    if (loaded.skipped > 0)
      reporter.warn(
        `${what}: skipped ${loaded.skipped} invalid record(s) of ${loaded.file} (skip_invalid_records).`,
        'records-skipped',
      );
    return loaded;
  };
  let train: LoadedPairs;
  let val: LoadedPairs | undefined;
  try {
    train = await load(config.data_path, 'training');
    val = config.val_data_path ? await load(config.val_data_path, 'validation') : undefined;
  } catch (e) {
    if (e instanceof ImageCheckAborted) return 'stopped';
    throw e;
  }
  if (train.records.length < 2)
    throw new UserError(
      `${train.file} has ${train.records.length} usable record(s); contrastive training needs at least 2.`,
      undefined,
      'data',
    );
  return {
    train,
    ...(val ? { val, valSet: evaluationSet(val.records) } : {}),
    labels: denseLabelIds(train.records),
  };
}
