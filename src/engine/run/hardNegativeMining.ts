/**
 * `hard_negative_mining` in a training run: embed the training pairs' query
 * images with the model as it starts, find each product's nearest other
 * products (train/hardNegatives.ts) and hand them to the m_per_product
 * sampler. The result is kept in output_dir so that `--resume` batches
 * exactly as the interrupted run did, without embedding again.
 */
import * as path from 'node:path';
import type { TrainConfig } from '../../shared/config/schema';
import type { PairRecord } from '../data/pairDataset';
import type { ImageLoader } from '../image/loader';
import type { ImageEncoder } from '../model/types';
import { productsOf, type ProductNeighbours } from '../train/batchSampler';
import {
  HARD_NEGATIVES_FILE,
  loadProductNeighbours,
  productNeighbours,
  saveProductNeighbours,
} from '../train/hardNegatives';
import { embedImages } from './embed';

/** Neighbours kept per product: the walk only needs the first few unvisited ones. */
const NEIGHBOURS_KEPT = 16;

export interface MiningContext {
  encoder: ImageEncoder;
  loader: ImageLoader;
  outputDir: string;
  batchSize: number;
  /** Resuming: reuse the neighbours the run mined when it started. */
  resumed: boolean;
  signal?: AbortSignal;
  onInfo: (message: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** The mined product neighbours, or undefined when the config does not ask for them. */
export async function hardNegativesFor(
  config: Pick<TrainConfig, 'hard_negative_mining' | 'batch_sampler' | 'group_by_super_label'>,
  records: readonly PairRecord[],
  ctx: MiningContext,
): Promise<ProductNeighbours | undefined> {
  if (!config.hard_negative_mining || config.batch_sampler !== 'm_per_product') return undefined;
  const table = productsOf(records, config.group_by_super_label);
  // Product keys in the sampler's order; a saved file mined on other data does not match them.
  const keys = table.members.map(([first]) => {
    const label = records[first!]!.label;
    return label === null ? `record:${first}` : `${typeof label}:${label}`;
  });
  const file = path.join(ctx.outputDir, HARD_NEGATIVES_FILE);
  if (ctx.resumed) {
    const saved = loadProductNeighbours(file, keys);
    if (saved) {
      ctx.onInfo(`hard-negative mining: using the neighbours this run mined at its start (${file})`);
      return saved;
    }
  }
  const started = performance.now();
  const paths = records.map((r) => r.query);
  const data = await embedImages(ctx.encoder, ctx.loader, paths, {
    batchSize: ctx.batchSize,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
  });
  const nb = productNeighbours(
    { data, n: paths.length, d: ctx.encoder.embeddingDim },
    table.productOfRecord,
    table.members.length,
    NEIGHBOURS_KEPT,
  );
  saveProductNeighbours(file, keys, nb);
  ctx.onInfo(
    `hard-negative mining: the nearest products of each of ${table.members.length} products from ${paths.length} query images ` +
      `in ${((performance.now() - started) / 1000).toFixed(1)}s (${file}); batches follow them`,
  );
  return nb;
}
