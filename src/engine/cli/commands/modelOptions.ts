/** Options shared by the commands that embed images with a model. */
import type { OptionSpec } from '../args';
import { imageLoaderFromConfig } from '../../image/loader';
import { defaultConfig } from '../../../shared/config/schema';
import type { ImageProcessing } from '../../model/types';

export const POOL_OPTION: OptionSpec = { name: 'pool', type: 'string', metavar: 'cls|mean', description: "Pooled output: the CLS token or the mean of the patch tokens (default: the model's own, else cls)." };
export const BATCH_OPTION: OptionSpec = { name: 'batch_size', type: 'integer', metavar: 'N', default: 32, description: 'Images per forward pass (memory, not results).' };
export const WORKERS_OPTION: OptionSpec = { name: 'num_workers', type: 'integer', metavar: 'N', default: 1, description: 'Image decoding threads (0: on the main thread).' };
export const IMAGE_SIZE_OPTION: OptionSpec = { name: 'image_size', type: 'integer', metavar: 'PX', description: "Input size (a multiple of 14); default: the model's preprocessor_config.json." };

export function poolFrom(value: unknown): 'cls' | 'mean' | undefined {
  if (value === undefined) return undefined;
  if (value === 'cls' || value === 'mean') return value;
  throw new Error(`--pool takes cls or mean, got "${String(value)}"`);
}

/** An evaluation-only image loader (no augmentation, no cache). */
export function evalLoader(processing: ImageProcessing, numWorkers: number) {
  return imageLoaderFromConfig({ ...defaultConfig(), num_workers: numWorkers, enable_image_cache: false }, processing);
}
