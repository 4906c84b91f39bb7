/**
 * Run by webgpu-numerics.test.ts in a child process whose WebGPU adapter is
 * SwiftShader (test/helpers/swiftshader.ts): the same work on ONNX
 * Runtime's CPU provider and on its WebGPU provider, in one process, printed
 * as one JSON line for the test to judge.
 *
 * - embedding: every fixture variant (plain, SwiGLU, registers), CLS and
 *   mean pooling with a projection head, a PEFT LoRA adapter merged into the
 *   graph, at the native 56 px, and the plain model also resized (70 px) and
 *   non-square (28 x 42); also the transformers reference embedding;
 * - training: three steps of the gradient cache (6 pairs in chunks of 2) with
 *   LoRA and dropout, and with full fine-tuning, from the same weights and
 *   batches on each provider: the losses and every trained weight after.
 */
import * as path from 'node:path';
import { tf } from '../../../../src/engine/backend/tf';
import { loadImageEncoder, type FinetuneMode } from '../../../../src/engine/model';
import type { Dinov2ImageEncoder } from '../../../../src/engine/model/encoder';
import { OnnxPixelEmbedder } from '../../../../src/engine/onnx/embedder';
import type { OnnxDevice } from '../../../../src/engine/onnx/runtime';
import { OnnxGradients } from '../../../../src/engine/onnx/trainer';
import { AdamW } from '../../../../src/engine/train/optim/adamw';
import { trainStepParallel, type TrainStepConfig } from '../../../../src/engine/train/step';
import { Rng } from '../../../../src/engine/util/rng';
import { expectedOutputs, FIXTURES, fixtureInputs, maxAbsDiff, useWasm } from '../../model/helpers';

export interface EmbeddingCase {
  name: string;
  /** Per fixture input: max |WebGPU - CPU provider|, and max |WebGPU - transformers| where the reference applies. */
  inputs: Array<{ input: string; vsCpu: number; vsReference?: number; scale: number }>;
}

export interface TrainingCase {
  name: string;
  cpuLosses: number[];
  webgpuLosses: number[];
  /** Max |difference| over every trained weight after the steps, and the largest |weight change| on the CPU. */
  weightDiff: number;
  weightChange: number;
}

/** The fixture images at the model's own size, and at a resized (70 px) and a non-square (28 x 42) one. */
const ALL_SIZES = ['native', 'larger', 'nonsquare'];

async function embedAll(
  encoder: Dinov2ImageEncoder,
  device: OnnxDevice,
  sizes: readonly string[],
): Promise<Map<string, Float32Array>> {
  const embedder = await OnnxPixelEmbedder.create(encoder, { device, threads: 1 });
  try {
    const out = new Map<string, Float32Array>();
    for (const [name, input] of fixtureInputs()) {
      if (!sizes.includes(name)) continue;
      const [n, height, width] = input.shape as [number, number, number];
      out.set(name, await embedder.embed({ data: input.data, n, height, width }));
    }
    return out;
  } finally {
    await embedder.release();
  }
}

async function embeddingCase(
  name: string,
  load: () => Promise<Dinov2ImageEncoder>,
  reference?: string,
  sizes: readonly string[] = ['native'],
): Promise<EmbeddingCase> {
  const encoder = await load();
  try {
    const cpu = await embedAll(encoder, 'cpu', sizes);
    const gpu = await embedAll(encoder, 'webgpu', sizes);
    const expected = reference ? expectedOutputs(reference) : undefined;
    return {
      name,
      inputs: [...cpu].map(([input, c]) => {
        const g = gpu.get(input)!;
        const ref = expected?.get(`${input}.cls`)?.data;
        return {
          input,
          vsCpu: maxAbsDiff(g, c),
          ...(ref ? { vsReference: maxAbsDiff(g, ref) } : {}),
          scale: c.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
        };
      }),
    };
  } finally {
    encoder.dispose();
  }
}

const STEP: TrainStepConfig = {
  loss_type: 'infonce',
  temperature: 0.1,
  triplet_margin: 0.2,
  max_grad_norm: 1.0,
  use_gradient_cache: true,
  gradient_cache_chunk_size: 2,
  seed: 11,
};

function pixels(n: number, size: number, seed: number) {
  const rng = new Rng(seed);
  const data = new Float32Array(n * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-2, 2);
  return { data, n, height: size, width: size };
}

/** Three steps on `device` from the fixture's weights: the losses and the trained weights after. */
async function train(
  variant: string,
  finetune: FinetuneMode,
  device: OnnxDevice,
): Promise<{ losses: number[]; weights: Map<string, Float32Array>; start: Map<string, Float32Array> }> {
  const encoder = await loadImageEncoder(path.join(FIXTURES, variant), { finetune, seed: 5 });
  const read = () =>
    new Map([...encoder.trainableVariables()].map(([k, v]) => [k, v.dataSync().slice() as Float32Array]));
  const start = read();
  const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
  const onnx = await OnnxGradients.create(encoder, { device, threads: 1 });
  try {
    const losses: number[] = [];
    const size = encoder.processing.imageSize;
    for (let step = 0; step < 3; step++) {
      const pairs = 6;
      const batch = {
        queries: pixels(pairs, size, 100 + step),
        positives: pixels(pairs, size, 200 + step),
        labels: [0, 1, 2, 0, 3, 4],
      };
      const r = await trainStepParallel(
        { encoder, optimizer, schedule: () => 1e-3, config: STEP, batch, globalStep: step },
        onnx,
      );
      losses.push(r.loss);
    }
    return { losses, weights: read(), start };
  } finally {
    await onnx.close();
    optimizer.dispose();
    encoder.dispose();
  }
}

async function trainingCase(name: string, variant: string, finetune: FinetuneMode): Promise<TrainingCase> {
  const cpu = await train(variant, finetune, 'cpu');
  const gpu = await train(variant, finetune, 'webgpu');
  let weightDiff = 0;
  let weightChange = 0;
  for (const [k, w] of cpu.weights) {
    weightDiff = Math.max(weightDiff, maxAbsDiff(gpu.weights.get(k)!, w));
    weightChange = Math.max(weightChange, maxAbsDiff(w, cpu.start.get(k)!));
  }
  return { name, cpuLosses: cpu.losses, webgpuLosses: gpu.losses, weightDiff, weightChange };
}

async function main(): Promise<void> {
  await useWasm();
  const t0 = performance.now();
  const base = (variant: string, pooling?: 'mean', head?: number) => async () => {
    const e = await loadImageEncoder(path.join(FIXTURES, variant), pooling ? { pooling } : {});
    if (head) e.setProjectionHead(head);
    return e;
  };
  const embedding = [
    // Each input size is a graph of its own (and SwiftShader compiles its shaders): all three for one model.
    await embeddingCase('plain', base('plain'), 'plain', ALL_SIZES),
    await embeddingCase('SwiGLU', base('swiglu'), 'swiglu'),
    await embeddingCase('registers', base('registers'), 'registers'),
    await embeddingCase('registers, mean pooling, projection head', base('registers', 'mean', 8)),
    await embeddingCase(
      'LoRA adapter merged',
      () =>
        loadImageEncoder(path.join(FIXTURES, 'plain-lora'), { resolveBase: async () => path.join(FIXTURES, 'plain') }),
      'plain-lora',
    ),
  ];
  const embedSeconds = (performance.now() - t0) / 1000;
  const lora: FinetuneMode = { kind: 'lora', settings: { r: 2, alpha: 4, dropout: 0.1, targetModules: 'all-linear' } };
  const training = [
    await trainingCase('LoRA with dropout (plain)', 'plain', lora),
    await trainingCase('full fine-tuning (SwiGLU)', 'swiglu', { kind: 'full' }),
  ];
  tf.disposeVariables();
  process.stdout.write(
    JSON.stringify({
      embedding,
      training,
      embedSeconds,
      trainSeconds: (performance.now() - t0) / 1000 - embedSeconds,
    }) + '\n',
  );
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
