/**
 * One measurement of `npm run bench` on the TF.js side, in a process of its
 * own (so that its peak memory is its own): DINOv2-small geometry with
 * random weights on the wasm backend.
 *
 *   npx tsx scripts/bench/ours.ts --mode embed|lora|full [options]
 *
 *   embed  inference throughput: --batches timed batches of --batch images,
 *          after one warm-up batch per thread, spread over --threads worker
 *          threads (auto: one per core; 0 or 1: the main thread) as
 *          `embedImages` does.
 *   lora   --steps training steps of --train-batch pairs with the gradient
 *          cache (--chunk images per forward pass; pixels made a chunk at a
 *          time, as training loads them) over --threads threads, the
 *          main thread and gradient workers (auto: one per core): LoRA
 *          r=16, alpha=32, dropout 0.05 on query/key/value/dense, InfoNCE,
 *          AdamW, clipping at 1.0; after one untimed step of --warmup-batch
 *          pairs (default 2 x --chunk).
 *   full   the same with every weight trained.
 *   lora-onnx, full-onnx  lora and full with the gradients on ONNX Runtime's
 *          CPU provider (src/engine/onnx/trainer.ts), --threads intra-op threads.
 *   demo-onnx  the demo's training step (examples/demo_i2i.yaml, workload.ts
 *          demoWorkload): every weight of its model at its input size, its
 *          batch and chunk (--train-batch and --chunk override them), on
 *          ONNX Runtime's CPU provider, --steps steps (default 10) after one
 *          untimed step.
 *   embed-onnx  inference throughput on ONNX Runtime's CPU provider
 *          (src/engine/onnx): --batches timed batches of --batch images
 *          after one warm-up batch, --threads intra-op threads (auto: one
 *          per core), as `vembed embed --backend onnx` runs them.
 *
 * Prints one JSON line (see `OursResult`).
 */
import { activateBackend } from '../../src/engine/backend/ladder';
import type { Dinov2ImageEncoder } from '../../src/engine/model/encoder';
import type { PixelBatch } from '../../src/engine/model/types';
import { embedPixels } from '../../src/engine/run/embedPixels';
import {
  embedBatchesInParallel,
  embeddingThreads,
  startEmbedWorkers,
  type BatchJob,
} from '../../src/engine/run/parallelEmbed';
import { AdamW } from '../../src/engine/train/optim/adamw';
import { wasmHeapBytes } from '../../src/engine/train/parallel/memory';
import { GradientLanes, gradientWorkerCount } from '../../src/engine/train/parallel/lanes';
import type { LoadablePixels } from '../../src/engine/train/pixels';
import { trainStepParallel } from '../../src/engine/train/step';
import { flagNumber, flagString } from './flags';
import { computeThreads } from '../../src/engine/backend/threads';
import { OnnxPixelEmbedder } from '../../src/engine/onnx/embedder';
import { chooseOnnx } from '../../src/engine/onnx/backendChoice';
import { OnnxGradients, type StepTimings } from '../../src/engine/onnx/trainer';
import * as path from 'node:path';
import { benchEncoder, benchStepConfig, demoEncoder, demoWorkload, randomPixels } from './workload';

export type OursMode = 'embed' | 'lora' | 'full' | 'embed-onnx' | 'lora-onnx' | 'full-onnx' | 'demo-onnx';

/** Seconds of the timed training steps by part (ONNX Runtime training: the trainer's StepTimings, and AdamW). */
export interface TrainingBreakdown extends StepTimings {
  /** Clipping and AdamW (TF.js). */
  optimizer: number;
}

export interface OursResult {
  mode: OursMode;
  device: string;
  size: number;
  /** Threads computing: embedding workers, or training lanes (main thread + workers). */
  threads: number;
  images: number;
  seconds: number;
  cpuSeconds: number;
  imagesPerSecond: number;
  /** Peak resident memory of the whole process, all threads (getrusage maxrss). */
  peakRssBytes: number;
  /** Wasm heap per thread (each its peak): the main thread's first. */
  wasmHeapBytes: number[];
  batch?: number;
  trainBatch?: number;
  chunk?: number;
  steps?: number;
  loss?: number;
  trainable?: number;
  breakdown?: TrainingBreakdown;
  notes: string[];
}

/**
 * A side's pixels loaded a chunk at a time from images made once, before the timing (as the demo's
 * `enable_image_cache` serves decoded images from memory): the step's cost, not a random number
 * generator's (drawing them every step took ~30 ms of the demo's ~0.55 s step). The PyTorch peer draws
 * its pixels once too.
 */
function pooledChunks(pool: PixelBatch, n: number): LoadablePixels {
  if (n > pool.n) throw new Error(`internal: ${n} images asked of a pool of ${pool.n}`);
  const per = pool.height * pool.width * 3;
  return {
    n,
    load: async (start, count) => ({
      data: pool.data.subarray(start * per, (start + count) * per), // read only: the trainer copies what it joins
      n: count,
      height: pool.height,
      width: pool.width,
    }),
  };
}

function threadsFlag(): number | 'auto' {
  const t = flagString('threads', 'auto');
  return t === 'auto' ? 'auto' : Number(t);
}

async function measureEmbedding(
  encoder: Dinov2ImageEncoder,
  size: number,
  notes: string[],
): Promise<Omit<OursResult, 'mode' | 'device' | 'size' | 'peakRssBytes' | 'notes'>> {
  const batch = flagNumber('batch', 32);
  const timed = flagNumber('batches', 4);
  const requested = threadsFlag();
  const threads = embeddingThreads(requested, encoder, 1_000_000, 1_000_000);
  const pixels = randomPixels(batch, size, 1);
  const dim = encoder.embeddingDim;
  if (threads === 0) {
    await embedPixels(encoder, pixels); // warm-up: heap growth, operator caches
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let b = 0; b < timed; b++) await embedPixels(encoder, pixels);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    return {
      threads: 1,
      images: batch * timed,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      imagesPerSecond: (batch * timed) / seconds,
      wasmHeapBytes: [wasmHeapBytes()],
      batch,
    };
  }
  const { workers, notes: startNotes } = await startEmbedWorkers(encoder, threads);
  notes.push(...startNotes);
  if (workers.length === 0) throw new Error(`no embedding worker started: ${startNotes.join('; ')}`);
  try {
    const run = async (count: number): Promise<void> => {
      const batches: BatchJob[] = Array.from({ length: count }, (_, i) => ({ start: i * batch, count: batch }));
      await embedBatchesInParallel({
        workers,
        batches,
        load: async () => pixels,
        embedHere: (px) => embedPixels(encoder, px),
        out: new Float32Array(count * batch * dim),
        dim,
        onNote: (m) => notes.push(m),
      });
    };
    await run(workers.length); // warm-up: one batch per worker
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(timed);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const heaps = [wasmHeapBytes(), ...(await Promise.all(workers.map((w) => w.memory()))).map((m) => m.wasmHeapBytes)];
    return {
      threads: workers.length,
      images: batch * timed,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      imagesPerSecond: (batch * timed) / seconds,
      wasmHeapBytes: heaps,
      batch,
    };
  } finally {
    await Promise.all(workers.map((w) => w.close()));
  }
}

async function measureOnnxEmbedding(
  encoder: Dinov2ImageEncoder,
  size: number,
  device: { line: string },
): Promise<Omit<OursResult, 'mode' | 'device' | 'size' | 'peakRssBytes' | 'notes'>> {
  const batch = flagNumber('batch', 32);
  const timed = flagNumber('batches', 4);
  const threads = computeThreads(threadsFlag());
  const choice = chooseOnnx('onnx-cpu', 'wasm', threads)!;
  device.line = choice.line;
  const embedder = await OnnxPixelEmbedder.create(encoder, choice);
  try {
    const pixels = randomPixels(batch, size, 1);
    await embedder.embed(pixels); // warm-up: the session's first run allocates its arena
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let b = 0; b < timed; b++) await embedder.embed(pixels);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    return {
      threads,
      images: batch * timed,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      imagesPerSecond: (batch * timed) / seconds,
      wasmHeapBytes: [wasmHeapBytes()],
      batch,
    };
  } finally {
    await embedder.release();
  }
}

/** The training step's size: pairs, chunk and timed steps (the flags, over the mode's defaults). */
interface TrainingShape {
  trainBatch: number;
  chunk: number;
  steps: number;
}

function trainingShape(defaults: TrainingShape): TrainingShape {
  return {
    trainBatch: flagNumber('train-batch', defaults.trainBatch),
    chunk: flagNumber('chunk', defaults.chunk),
    steps: flagNumber('steps', defaults.steps),
  };
}

async function measureTraining(
  encoder: Dinov2ImageEncoder,
  size: number,
  notes: string[],
  onnx: OnnxGradients | null,
  { trainBatch, chunk, steps }: TrainingShape,
): Promise<Omit<OursResult, 'mode' | 'device' | 'size' | 'peakRssBytes' | 'notes'>> {
  // Two chunks a side: the warm-up takes the gradient cache's path (one chunk would take the plain one) on every lane.
  const warmup = flagNumber('warmup-batch', 2 * chunk);
  const config = benchStepConfig(chunk);
  const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
  // --threads counts every computing thread; the main thread is one of the lanes.
  const threads = threadsFlag();
  const lanes = onnx ?? (await GradientLanes.start(encoder, gradientWorkerCount(threads), (m) => notes.push(m)));
  const breakdown: TrainingBreakdown = { forward: 0, backward: 0, masks: 0, loss: 0, optimizer: 0, data: 0, other: 0 };
  let timed = false;
  try {
    let globalStep = 0;
    const poolSize = Math.max(warmup, trainBatch);
    const pool = { queries: randomPixels(poolSize, size, 100), positives: randomPixels(poolSize, size, 200) };
    const step = async (pairs: number): Promise<number> => {
      // Loaded chunk by chunk, as `vembed train` does on the CPU backends: memory does not grow with the batch.
      const queries = pooledChunks(pool.queries, pairs);
      const positives = pooledChunks(pool.positives, pairs);
      const labels = Array.from({ length: pairs }, (_, i) => i);
      const t = performance.now();
      const r = await trainStepParallel(
        { encoder, optimizer, schedule: () => 5e-5, config, batch: { queries, positives, labels }, globalStep },
        lanes,
      );
      if (onnx && timed) {
        // What the gradient runner did not spend is the step's clipping and AdamW update.
        const g = onnx.lastTimings;
        let spent = 0;
        for (const key of Object.keys(g) as Array<keyof StepTimings>) {
          breakdown[key] += g[key];
          spent += g[key];
        }
        breakdown.optimizer += (performance.now() - t) / 1000 - spent;
      }
      globalStep = r.globalStep;
      return r.loss;
    };
    if (warmup > 0) await step(warmup);
    timed = true;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let loss = NaN;
    for (let s = 0; s < steps; s++) loss = await step(trainBatch);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    const heaps = [
      wasmHeapBytes(),
      ...(onnx ? [] : (await (lanes as GradientLanes).workerMemory()).map((m) => m.wasmHeapBytes)),
    ];
    const images = 2 * trainBatch * steps;
    const trainable = [...encoder.trainableVariables().values()].reduce((n, v) => n + v.size, 0);
    return {
      threads: lanes.size,
      images,
      seconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      imagesPerSecond: images / seconds,
      wasmHeapBytes: heaps,
      trainBatch,
      chunk,
      steps,
      loss,
      trainable,
      ...(onnx ? { breakdown } : {}),
    };
  } finally {
    await lanes.close();
  }
}

async function main(): Promise<void> {
  const mode = flagString('mode', 'embed') as OursMode;
  const modes: OursMode[] = ['embed', 'lora', 'full', 'embed-onnx', 'lora-onnx', 'full-onnx', 'demo-onnx'];
  if (!modes.includes(mode)) throw new Error(`--mode takes ${modes.join(', ')}, got ${mode}`);
  const training =
    mode === 'lora' || mode === 'lora-onnx' ? 'lora' : mode === 'full' || mode === 'full-onnx' ? 'full' : null;
  const backend = await activateBackend('wasm');
  const demo = mode === 'demo-onnx' ? demoWorkload(path.resolve(__dirname, '..', '..')) : null;
  const encoder = demo ? await demoEncoder(demo) : benchEncoder(training);
  const size = demo ? encoder.processing.imageSize : flagNumber('size', 224);
  const shape = trainingShape(
    demo ? { trainBatch: demo.batch, chunk: demo.chunk, steps: 10 } : { trainBatch: 128, chunk: 8, steps: 1 },
  );
  const notes: string[] = [];
  const device = { line: backend.device };
  let onnx: OnnxGradients | null = null;
  if (mode === 'lora-onnx' || mode === 'full-onnx' || mode === 'demo-onnx') {
    const threads = computeThreads(threadsFlag());
    const choice = chooseOnnx('onnx-cpu', 'wasm', threads)!;
    device.line = choice.line;
    onnx = await OnnxGradients.create(encoder, { device: 'cpu', threads, chunkSize: shape.chunk });
  }
  const measured =
    mode === 'embed'
      ? await measureEmbedding(encoder, size, notes)
      : mode === 'embed-onnx'
        ? await measureOnnxEmbedding(encoder, size, device)
        : await measureTraining(encoder, size, notes, onnx, shape);
  encoder.dispose();
  const result: OursResult = {
    mode,
    device: device.line,
    size,
    ...measured,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    notes,
  };
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
