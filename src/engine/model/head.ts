/**
 * The embedding head: how the encoder turns tokens into one embedding, which
 * neither Hugging Face's `config.json` nor PEFT's adapter files can express.
 *
 * Saved next to the model or adapter, in two files:
 * - `embedding_head.json`:
 *   `{"format": "vembed-embedding-head", "version": 1, "pooling": "cls" | "mean",
 *     "hidden_size": D, "projection_dim": P | null}`
 * - `embedding_head.safetensors` (only with a projection head): one F32 tensor
 *   `projection.weight` of shape [P, D], PyTorch's nn.Linear layout, so in
 *   Python `nn.Linear(D, P, bias=False)` loads it as its `weight`. The
 *   embedding is `pooled @ weight.T`.
 * A folder without them pools with the CLS token and has no projection.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import { writeJsonAtomic } from '../../shared/fs/atomic';
import { ModelConfigError } from './config';
import type { PoolingMethod } from './dinov2';
import { PROJECTION_WEIGHT, type Dinov2ImageEncoder } from './encoder';

export const HEAD_CONFIG_FILE = 'embedding_head.json';
export const HEAD_WEIGHTS_FILE = 'embedding_head.safetensors';
const FORMAT = 'vembed-embedding-head';

export interface EmbeddingHead {
  pooling: PoolingMethod;
  /** PyTorch layout [P, D]. */
  projection: { dim: number; weight: Float32Array } | null;
}

/** Read a folder's embedding head, or null when it has none. */
export function readEmbeddingHead(folder: string, hiddenSize: number): EmbeddingHead | null {
  const file = path.join(folder, HEAD_CONFIG_FILE);
  if (!fs.existsSync(file)) return null;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ModelConfigError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (json.format !== FORMAT)
    throw new ModelConfigError(`${file}: \`format\` must be "${FORMAT}", got ${JSON.stringify(json.format)}`);
  const pooling = json.pooling;
  if (pooling !== 'cls' && pooling !== 'mean')
    throw new ModelConfigError(`${file}: \`pooling\` must be "cls" or "mean", got ${JSON.stringify(pooling)}`);
  if (json.hidden_size !== undefined && json.hidden_size !== hiddenSize) {
    throw new ModelConfigError(
      `${file}: written for hidden size ${String(json.hidden_size)}, but the model's is ${hiddenSize}`,
    );
  }
  const dim = json.projection_dim;
  if (dim === null || dim === undefined) return { pooling, projection: null };
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1)
    throw new ModelConfigError(
      `${file}: \`projection_dim\` must be a positive integer or null, got ${JSON.stringify(dim)}`,
    );
  const weightsFile = path.join(folder, HEAD_WEIGHTS_FILE);
  if (!fs.existsSync(weightsFile))
    throw new ModelConfigError(`${file} declares a projection head, but ${HEAD_WEIGHTS_FILE} is missing next to it`);
  const { tensors } = readSafetensors(weightsFile);
  const w = tensors.get(PROJECTION_WEIGHT);
  if (!w) throw new ModelConfigError(`${weightsFile}: no tensor "${PROJECTION_WEIGHT}"`);
  if (w.shape.length !== 2 || w.shape[0] !== dim || w.shape[1] !== hiddenSize) {
    throw new ModelConfigError(
      `${weightsFile}: "${PROJECTION_WEIGHT}" has shape [${w.shape.join(', ')}]; expected [${dim}, ${hiddenSize}]`,
    );
  }
  return { pooling, projection: { dim, weight: w.data } };
}

/** Write the encoder's pooling and projection head into `folder`. */
export function writeEmbeddingHead(folder: string, encoder: Dinov2ImageEncoder): void {
  const projection = encoder.projectionTensor();
  if (projection)
    writeSafetensors(path.join(folder, HEAD_WEIGHTS_FILE), { [PROJECTION_WEIGHT]: projection }, { format: 'pt' });
  else fs.rmSync(path.join(folder, HEAD_WEIGHTS_FILE), { force: true });
  writeJsonAtomic(path.join(folder, HEAD_CONFIG_FILE), {
    format: FORMAT,
    version: 1,
    pooling: encoder.pooling,
    hidden_size: encoder.config.hiddenSize,
    projection_dim: encoder.projectionDim,
  });
}
