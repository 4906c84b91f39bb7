/**
 * The GPU check's embedding benchmark (bundled by prepare.sh, run by
 * run.sh on the GPU machine): DINOv2-small geometry with random weights at
 * 224 px, batches of --batch, through ONNX Runtime with the CPU provider and
 * with --device (default webgpu); prints images/s of each and the largest
 * difference between their embeddings, then one JSON line.
 *
 *   node gpu-bench.js [--device webgpu|cuda] [--batch 32] [--batches 10] [--cpu-batches 2]
 */
import { activateBackend } from '../../src/engine/backend/ladder';
import { benchEncoder, randomPixels } from '../bench/workload';
import { OnnxPixelEmbedder } from '../../src/engine/onnx/embedder';
import { loadOnnxRuntime, onnxDeviceLine, type OnnxDevice } from '../../src/engine/onnx/runtime';
import type { PixelBatch } from '../../src/engine/model/types';
import * as os from 'node:os';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

async function rate(
  embedder: OnnxPixelEmbedder,
  pixels: PixelBatch,
  batches: number,
): Promise<{ imagesPerSecond: number; out: Float32Array }> {
  let out = await embedder.embed(pixels); // warm-up: kernels compiled, buffers allocated
  const t0 = performance.now();
  for (let b = 0; b < batches; b++) out = await embedder.embed(pixels);
  return { imagesPerSecond: (pixels.n * batches) / ((performance.now() - t0) / 1000), out };
}

async function main(): Promise<void> {
  const device = flag('device', 'webgpu') as OnnxDevice;
  const batch = Number(flag('batch', '32'));
  const size = 224;
  await activateBackend('wasm');
  const loaded = loadOnnxRuntime();
  if ('error' in loaded) throw new Error(loaded.error);
  const encoder = benchEncoder(null);
  const pixels = randomPixels(batch, size, 7);
  const threads = os.availableParallelism();

  const cpu = await OnnxPixelEmbedder.create(encoder, { device: 'cpu', threads });
  const onCpu = await rate(cpu, pixels, Number(flag('cpu-batches', '2')));
  await cpu.release();
  console.log(
    `${onnxDeviceLine(loaded.ort, 'cpu', threads)}: ${onCpu.imagesPerSecond.toFixed(1)} img/s (batch ${batch}, 224 px, DINOv2-small geometry)`,
  );

  const gpu = await OnnxPixelEmbedder.create(encoder, { device, threads });
  const onGpu = await rate(gpu, pixels, Number(flag('batches', '10')));
  await gpu.release();
  let maxDiff = 0;
  for (let i = 0; i < onCpu.out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(onCpu.out[i]! - onGpu.out[i]!));
  console.log(
    `${onnxDeviceLine(loaded.ort, device, threads)}: ${onGpu.imagesPerSecond.toFixed(1)} img/s; max |difference| to the CPU provider: ${maxDiff.toExponential(2)}`,
  );
  console.log(
    JSON.stringify({
      device,
      batch,
      cpuImagesPerSecond: onCpu.imagesPerSecond,
      gpuImagesPerSecond: onGpu.imagesPerSecond,
      maxAbsDiff: maxDiff,
    }),
  );
  encoder.dispose();
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
