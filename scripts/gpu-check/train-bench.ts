/**
 * The GPU check's training benchmark (bundled by prepare.sh, run by run.sh
 * on the GPU machine): DINOv2-small geometry with random weights at 224 px,
 * the gradient cache's graphs (src/engine/onnx/trainer.ts) on ONNX Runtime
 * with --device (default webgpu), LoRA r=16 and full fine-tuning:
 *   1. the losses of the first --check-steps steps of --check-batch pairs on
 *      the CPU provider and on the device, from the same weights and batches
 *      (they should agree to float32 rounding);
 *   2. images/s (two per pair) on the device for --steps timed steps of
 *      --batch pairs, chunks of --chunk, after one untimed warm-up step.
 * Then one JSON line.
 *
 *   node gpu-train-bench.js [--device webgpu|cuda] [--batch 128] [--chunk 32] [--steps 2]
 *                           [--check-batch 16] [--check-steps 3] [--modes lora,full]
 */
import * as os from 'node:os';
import { activateBackend } from '../../src/engine/backend/ladder';
import { loadOnnxRuntime, onnxDeviceLine, type OnnxDevice } from '../../src/engine/onnx/runtime';
import { OnnxGradients } from '../../src/engine/onnx/trainer';
import { AdamW } from '../../src/engine/train/optim/adamw';
import { trainStepParallel } from '../../src/engine/train/step';
import { benchEncoder, benchStepConfig, randomPixels } from '../bench/workload';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const SIZE = 224;

/** `steps` steps of `pairs` pairs on `device` from a fresh encoder: the losses and the timed steps' images/s. */
async function run(
  mode: 'lora' | 'full',
  device: OnnxDevice,
  threads: number,
  opts: { pairs: number; chunk: number; steps: number; warmup: boolean },
): Promise<{ losses: number[]; imagesPerSecond: number }> {
  const encoder = benchEncoder(mode);
  const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
  const onnx = await OnnxGradients.create(encoder, { device, threads });
  const config = benchStepConfig(opts.chunk);
  try {
    let globalStep = 0;
    const step = async (): Promise<number> => {
      const batch = {
        queries: randomPixels(opts.pairs, SIZE, 100 + globalStep),
        positives: randomPixels(opts.pairs, SIZE, 200 + globalStep),
        labels: Array.from({ length: opts.pairs }, (_, i) => i),
      };
      const r = await trainStepParallel({ encoder, optimizer, schedule: () => 1e-4, config, batch, globalStep }, onnx);
      globalStep = r.globalStep;
      return r.loss;
    };
    const losses: number[] = [];
    if (opts.warmup) losses.push(await step()); // kernels compiled, buffers allocated
    const t0 = performance.now();
    for (let s = 0; s < opts.steps; s++) losses.push(await step());
    const seconds = (performance.now() - t0) / 1000;
    return { losses, imagesPerSecond: (2 * opts.pairs * opts.steps) / seconds };
  } finally {
    await onnx.close();
    optimizer.dispose();
    encoder.dispose();
  }
}

async function main(): Promise<void> {
  const device = flag('device', 'webgpu') as OnnxDevice;
  const batch = Number(flag('batch', '128'));
  const chunk = Number(flag('chunk', '32'));
  const steps = Number(flag('steps', '2'));
  const checkBatch = Number(flag('check-batch', '16'));
  const checkSteps = Number(flag('check-steps', '3'));
  const modes = flag('modes', 'lora,full').split(',') as Array<'lora' | 'full'>;
  await activateBackend('wasm');
  const loaded = loadOnnxRuntime();
  if ('error' in loaded) throw new Error(loaded.error);
  const threads = os.availableParallelism();
  const results: Record<string, unknown> = {};
  for (const mode of modes) {
    const check = { pairs: checkBatch, chunk: Math.min(8, checkBatch), steps: checkSteps, warmup: false };
    const onCpu = await run(mode, 'cpu', threads, check);
    const onDevice = await run(mode, device, threads, check);
    const maxLossDiff = Math.max(...onCpu.losses.map((l, i) => Math.abs(l - onDevice.losses[i]!)));
    console.log(
      `${mode}: first ${checkSteps} steps' losses (${checkBatch} pairs): CPU ${onCpu.losses.map((l) => l.toFixed(5)).join(', ')}; ${device} ${onDevice.losses.map((l) => l.toFixed(5)).join(', ')} (max |difference| ${maxLossDiff.toExponential(2)})`,
    );
    const timed = await run(mode, device, threads, { pairs: batch, chunk, steps, warmup: true });
    console.log(
      `${mode}: ${onnxDeviceLine(loaded.ort, device, threads)}: ${timed.imagesPerSecond.toFixed(1)} img/s training (batch ${batch}, chunk ${chunk}, ${steps} timed steps after 1 warm-up)`,
    );
    results[mode] = {
      cpuLosses: onCpu.losses,
      deviceLosses: onDevice.losses,
      maxLossDiff,
      imagesPerSecond: timed.imagesPerSecond,
    };
  }
  console.log(JSON.stringify({ device, batch, chunk, steps, results }));
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
