/**
 * Which pairs each training step sees, and with which augmentation.
 *
 * Determinism: the order of an epoch is a pure function of (seed, epoch) and
 * each image's augmentation of (seed, epoch, record, slot), so a run resumed
 * at (epoch, position) sees exactly the batches an uninterrupted one would.
 */
import type { TrainConfig } from '../../../shared/config/schema';
import type { PairRecord } from '../../data/pairDataset';
import { augmentationSeed, type ImageJob } from '../../image/transform';
import { Rng } from '../../util/rng';
import { mPerProductOrder, samplerOptions, type ProductNeighbours } from '../../train/batchSampler';

export interface Batch {
  epoch: number;
  /** Position in the epoch's order after this batch. */
  endPosition: number;
  records: PairRecord[];
  /** Indices of the records in the training file (augmentation seeds use them). */
  indices: number[];
}

/** The epoch's order: a permutation drawn from (seed, epoch) alone. */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  return new Rng((seed ^ Math.imul(epoch + 1, 0x9e3779b1)) >>> 0).shuffle(order);
}

/** Steps in an epoch: full batches only (a ragged last batch would change the contrastive task), at least one. */
export function stepsPerEpoch(records: number, batchSize: number): number {
  return Math.max(1, Math.floor(records / batchSize));
}

/** Steps the run makes: every epoch's, or max_steps when that is set and fewer. */
export function plannedSteps(
  config: Pick<TrainConfig, 'epochs' | 'max_steps' | 'batch_size'>,
  records: number,
): number {
  const all = config.epochs * stepsPerEpoch(records, config.batch_size);
  return config.max_steps > 0 ? Math.min(all, config.max_steps) : all;
}

/** Whether a batch ending at `endPosition` is its epoch's last. */
export function endsEpoch(endPosition: number, records: number, batchSize: number): boolean {
  return endPosition >= stepsPerEpoch(records, batchSize) * Math.min(batchSize, records);
}

/**
 * The batches from (startEpoch, startPosition) to the end of the last epoch.
 * `batch_sampler: m_per_product` orders an epoch with train/batchSampler.ts
 * (and the mined product neighbours, when given); the epoch's length is the same.
 */
export function* batchesFrom(
  records: readonly PairRecord[],
  config: Pick<TrainConfig, 'epochs' | 'batch_size' | 'seed'> &
    Partial<Pick<TrainConfig, 'batch_sampler' | 'images_per_product' | 'group_by_super_label'>>,
  startEpoch: number,
  startPosition: number,
  neighbours?: ProductNeighbours,
): Generator<Batch> {
  const perEpoch = stepsPerEpoch(records.length, config.batch_size);
  const size = Math.min(config.batch_size, records.length);
  for (let epoch = startEpoch; epoch < config.epochs; epoch++) {
    const order =
      config.batch_sampler === 'm_per_product'
        ? mPerProductOrder(records, samplerOptions(config, size, neighbours), epoch)
        : epochOrder(records.length, config.seed, epoch);
    for (let b = Math.floor(startPosition / size); b < perEpoch; b++) {
      const indices = order.slice(b * size, (b + 1) * size);
      yield { epoch, endPosition: (b + 1) * size, records: indices.map((i) => records[i]!), indices };
    }
    startPosition = 0;
  }
}

/** The image jobs of one side of a batch (0: queries, 1: positives), each with its augmentation seed. */
export function jobsFor(batch: Batch, side: 0 | 1, seed: number): ImageJob[] {
  return batch.records.map((r, i) => ({
    path: side === 0 ? r.query : r.positive,
    transform: { kind: 'train' as const, seed: augmentationSeed(seed, batch.epoch, batch.indices[i]!, side) },
  }));
}

/** The first `n` items of `it`. */
export function* takeSteps<T>(it: Iterable<T>, n: number): Generator<T> {
  if (n <= 0) return;
  let taken = 0;
  for (const x of it) {
    yield x;
    if (++taken >= n) return;
  }
}
