/**
 * The benchmarks' workload, one definition for `npm run bench`
 * (scripts/bench/ours.ts), the kernel profile (profile.ts) and the GPU
 * check's training benchmark (scripts/gpu-check/train-bench.ts), so their
 * numbers describe the same work: DINOv2-small geometry with random weights
 * (seed 1), LoRA r=16, alpha 32, dropout 0.05 on query/key/value/dense, or
 * every weight; InfoNCE with the gradient cache; uniform random pixels.
 */
import type { Dinov2ImageEncoder } from '../../src/engine/model/encoder';
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
