/**
 * Speed of the DINOv2 forward pass (and a LoRA training step) on the wasm
 * backend, DINOv2-small geometry with random weights.
 *
 *   npx tsx scripts/bench-model.ts [--batch 4] [--size 224] [--repeats 3] [--backend wasm] [--no-train] [--full]
 *
 * Prints wall seconds per batch, images per second and CPU seconds (the CPU
 * time stays meaningful when other processes share the cores); the first
 * (warm-up) run is reported separately, since it includes one-off set-up
 * and heap growth. `--full` adds a full fine-tuning step.
 */
// tfjs-core registers gradients only through this side-effect import (the union package does it).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { activateBackend, parseBackendPreference } from '../src/engine/backend/ladder';
import { tf, type Tensor4D } from '../src/engine/backend/tf';
import { randomDinov2Encoder } from '../src/engine/model/random';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

interface Timing {
  wall: number;
  /** CPU seconds of this process: what the run costs even when other processes share the cores. */
  cpu: number;
}

function time(fn: () => void): Timing {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const c = process.cpuUsage(c0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6 };
}

function report(label: string, runs: Timing[], batch: number): void {
  const [warm, ...rest] = runs;
  const measured = rest.length ? rest : [warm!];
  const best = Math.min(...measured.map((r) => r.wall));
  const mean = measured.reduce((a, r) => a + r.wall, 0) / measured.length;
  const cpu = Math.min(...measured.map((r) => r.cpu));
  console.log(
    `${label}: warm-up ${warm!.wall.toFixed(2)} s; then best ${best.toFixed(2)} s, mean ${mean.toFixed(2)} s wall per batch of ${batch} ` +
      `(${(batch / best).toFixed(2)} images/s); ${cpu.toFixed(2)} s CPU`,
  );
}

async function main(): Promise<void> {
  const batch = Number(flag('batch', '4'));
  const size = Number(flag('size', '224'));
  const repeats = Number(flag('repeats', '3'));
  const backend = parseBackendPreference(flag('backend', 'wasm'));
  if (!backend) throw new Error('unknown --backend');
  const active = await activateBackend(backend);
  const load = (await import('node:os')).loadavg()[0]!.toFixed(1);
  console.log(
    `backend: ${active.name} (${active.device}); DINOv2-small geometry (hidden 384, 12 layers, 6 heads), ${size} px, batch ${batch}; load average ${load}`,
  );

  const encoder = randomDinov2Encoder({}, { seed: 1 });
  const pixels = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 3) as Tensor4D;

  const forward: Timing[] = [];
  for (let i = 0; i <= repeats; i++) {
    forward.push(
      time(() => {
        const out = encoder.embed(pixels);
        out.dataSync();
        out.dispose();
      }),
    );
  }
  report('forward (inference)', forward, batch);

  const trainStep = (label: string): void => {
    const vars = [...encoder.trainableVariables().values()];
    const step: Timing[] = [];
    for (let i = 0; i <= repeats; i++) {
      step.push(
        time(() => {
          const { value, grads } = tf.variableGrads(
            () => tf.mean(tf.square(encoder.embed(pixels, { training: true, dropoutSeed: i }))) as never,
            vars,
          );
          value.dataSync();
          value.dispose();
          tf.dispose(Object.values(grads));
        }),
      );
    }
    report(label, step, batch);
  };
  if (!process.argv.includes('--no-train')) {
    encoder.addLora({ r: 16, alpha: 32, dropout: 0.05, targetModules: null });
    encoder.setTrainable('lora');
    trainStep('forward+backward, LoRA r=16 on query/key/value/dense, dropout 0.05');
  }
  if (process.argv.includes('--full')) {
    encoder.mergeLora();
    encoder.setTrainable('full');
    trainStep('forward+backward, full fine-tuning');
  }
  const mem = tf.memory();
  // The wasm heap never shrinks, so its size is the peak of the whole run.
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.buffer.byteLength;
  console.log(
    `tensors alive: ${mem.numTensors} (${(mem.numBytes / 1e6).toFixed(1)} MB)${heap ? `; wasm heap peak ${(heap / 1e6).toFixed(0)} MB` : ''}`,
  );
  pixels.dispose();
  encoder.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
