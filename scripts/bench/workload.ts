/**
 * The benchmarks' workload, one definition for `npm run bench`
 * (scripts/bench/ours.ts), the kernel profile (profile.ts) and the GPU
 * check's training benchmark (scripts/gpu-check/train-bench.ts), so their
 * numbers describe the same work: DINOv2-small geometry with random weights
 * (seed 1), LoRA r=16, alpha 32, dropout 0.05 on query/key/value/dense, or
 * every weight; InfoNCE with the gradient cache; uniform random pixels.
 * And the demo's training step (demoWorkload): its model, batch and chunk
 * read from the demo's config, every weight trained.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import type { Dinov2ImageEncoder } from '../../src/engine/model/encoder';
import { loadImageEncoder } from '../../src/engine/model/load';
import { randomDinov2Encoder } from '../../src/engine/model/random';
import type { PixelBatch } from '../../src/engine/model/types';
import type { TrainStepConfig } from '../../src/engine/train/step';
import { Rng } from '../../src/engine/util/rng';

export type BenchTraining = 'lora' | 'full' | null;

/** The random encoder, set to train LoRA adapters, every weight, or nothing (null: inference). */
export function benchEncoder(training: BenchTraining): Dinov2ImageEncoder {
  const encoder = randomDinov2Encoder({}, { seed: 1 });
  if (training === 'lora') {
    encoder.addLora({ r: 16, alpha: 32, dropout: 0.05, targetModules: null });
    encoder.setTrainable('lora');
  } else if (training === 'full') {
    encoder.setTrainable('full');
  }
  return encoder;
}

/** The training step's settings: InfoNCE, clipping at 1.0, the gradient cache in chunks of `chunk`. */
export function benchStepConfig(chunk: number): TrainStepConfig {
  return {
    loss_type: 'infonce',
    temperature: 0.05,
    triplet_margin: 0.2,
    max_grad_norm: 1.0,
    use_gradient_cache: true,
    gradient_cache_chunk_size: chunk,
    seed: 42,
  };
}

/** `n` images of `size` x `size` pixels, uniform in [-2, 2), the same for the same seed. */
export function randomPixels(n: number, size: number, seed: number): PixelBatch {
  const rng = new Rng(seed);
  const data = new Float32Array(n * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-2, 2);
  return { data, n, height: size, width: size };
}

/** The demo's config (`npm run demo`), whose training step the `demo` measurement repeats. */
export const DEMO_CONFIG = 'examples/demo_i2i.yaml';

/** The demo's training step: its model folder, input size, batch size (pairs) and gradient-cache chunk. */
export interface DemoWorkload {
  modelPath: string;
  imageSize: number;
  batch: number;
  chunk: number;
}

/** What examples/demo_i2i.yaml trains (paths as the demo resolves them: from the repository root). */
export function demoWorkload(root: string): DemoWorkload {
  const file = path.join(root, DEMO_CONFIG);
  const config = parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  const field = (key: string, type: 'string' | 'number') => {
    const value = config[key];
    if (typeof value !== type) throw new Error(`${file}: \`${key}\` must be a ${type}, got ${JSON.stringify(value)}`);
    return value;
  };
  if (config.use_lora !== false || config.use_gradient_cache !== true)
    throw new Error(`${file}: the demo measurement repeats a full fine-tuning step with the gradient cache`);
  return {
    modelPath: path.resolve(root, field('model_name', 'string') as string),
    imageSize: field('image_size', 'number') as number,
    batch: field('batch_size', 'number') as number,
    chunk: field('gradient_cache_chunk_size', 'number') as number,
  };
}

/** The demo's model with every weight trainable, at the demo's input size. */
export function demoEncoder(demo: DemoWorkload): Promise<Dinov2ImageEncoder> {
  return loadImageEncoder(demo.modelPath, { finetune: { kind: 'full' }, imageSize: demo.imageSize });
}
