/**
 * Where the time of a DINOv2-small forward pass and training step goes, per
 * kernel (tf.profile), on the wasm backend with random weights.
 *
 *   npx tsx scripts/bench/profile.ts [--batch 8] [--size 224] [--mode forward|lora|full] [--top 25]
 *
 * Prints, per kernel name and input shapes, the call count and summed kernel
 * milliseconds, and the share of the whole; kernels run synchronously on
 * wasm, so kernel time is wall time spent in that kernel. The gap between
 * the sum and the wall time is JavaScript overhead (tape, tidy, host copies).
 */
import { activateBackend } from '../../src/engine/backend/ladder';
import { tf, type Tensor4D } from '../../src/engine/backend/tf';
import { flagNumber, flagString } from './flags';
import { benchEncoder } from './workload';

async function main(): Promise<void> {
  const batch = flagNumber('batch', 8);
  const size = flagNumber('size', 224);
  const mode = flagString('mode', 'forward');
  const top = flagNumber('top', 25);
  await activateBackend('wasm');
  if (mode !== 'forward' && mode !== 'lora' && mode !== 'full')
    throw new Error(`--mode takes forward, lora or full, got ${mode}`);
  const encoder = benchEncoder(mode === 'forward' ? null : mode);
  const pixels = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 3) as Tensor4D;
  const vars = [...encoder.trainableVariables().values()];
  const run = (): void => {
    if (mode === 'forward') {
      const out = encoder.embed(pixels);
      out.dataSync();
      out.dispose();
      return;
    }
    const { value, grads } = tf.variableGrads(
      () => tf.sum(encoder.embed(pixels, { training: true, dropoutSeed: 1 })) as never,
      vars,
    );
    value.dataSync();
    value.dispose();
    tf.dispose(Object.values(grads));
  };
  run(); // warm-up: heap growth and one-off set-up
  const t0 = performance.now();
  const info = await tf.profile(run);
  const wall = performance.now() - t0;
  const byKey = new Map<string, { calls: number; ms: number }>();
  let total = 0;
  // Scopes (op wrappers such as fusedMatMul__op) nest kernels: count registered kernels only.
  const kernels = info.kernels.filter((k) => tf.getKernel(k.name, tf.getBackend()) !== undefined);
  for (const k of kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = `${k.name} ${k.inputShapes.map((s) => (s ? `[${s.join(',')}]` : '-')).join(' ')}`;
    const e = byKey.get(key) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += ms;
    byKey.set(key, e);
    total += ms;
  }
  const byName = new Map<string, number>();
  for (const k of kernels)
    byName.set(k.name, (byName.get(k.name) ?? 0) + (typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0));
  console.log(
    `${mode}, batch ${batch} at ${size} px: ${kernels.length} kernels, ${total.toFixed(0)} ms in kernels, ${wall.toFixed(0)} ms wall (profiling included); peak ${(info.peakBytes / 1e6).toFixed(0)} MB`,
  );
  console.log('by kernel:');
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${name.padEnd(20)} ${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)}%`);
  console.log('by kernel and input shapes:');
  for (const [key, e] of [...byKey].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)) {
    console.log(
      `  ${e.ms.toFixed(0).padStart(7)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}% ${String(e.calls).padStart(5)}x  ${key}`,
    );
  }
  pixels.dispose();
  encoder.dispose();
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
