/**
 * Speed and memory of the SOP protocol at full size: 60,502 random 384-d
 * embeddings in 11,316 classes (2 to 12 images each, as in Ebay_test.txt),
 * every image against all the others, Recall@{1,10,100,1000}, MAP@R and 20
 * neighbours per query. Also times one index search over the same gallery.
 *
 *   npx tsx scripts/bench-search.ts [--n 60502] [--classes 11316] [--dim 384]
 *                                   [--threads auto|N] [--block 2048] [--backend wasm|cpu]
 */
import * as os from 'node:os';
import { activateBackend, type BackendPreference } from '../src/engine/backend/ladder';
import { tf } from '../src/engine/backend/tf';
import { evaluateRetrieval } from '../src/engine/retrieval/evaluate';
import { keepOnDevice, prepareGallery, releaseFromDevice, searchExact } from '../src/engine/retrieval/exactSearch';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

/** Deterministic standard normals (xorshift + Box-Muller). */
function normals(count: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const t = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(t);
    if (i + 1 < count) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

/** Class sizes between 2 and 12 summing to n, shuffled into a label per image. */
function sopLikeLabels(n: number, classes: number): Int32Array {
  if (n < 2 * classes) throw new Error(`need n >= 2 * classes (${n} < ${2 * classes})`);
  const sizes = new Int32Array(classes).fill(2);
  let left = n - 2 * classes;
  let x = 12345;
  while (left > 0) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const c = x % classes;
    if (sizes[c]! < 12) {
      sizes[c]!++;
      left--;
    }
  }
  const labels = new Int32Array(n);
  let at = 0;
  // SOP test ids start at 11319
  for (let k = 0; k < classes; k++) for (let j = 0; j < sizes[k]!; j++) labels[at++] = k + 11319;
  return labels;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<void> {
  const n = Number(flag('n', '60502'));
  const classes = Number(flag('classes', '11316'));
  const d = Number(flag('dim', '384'));
  const threadsFlag = flag('threads', 'auto');
  const threads = threadsFlag === 'auto' ? 'auto' : Number(threadsFlag);
  const blockSize = Number(flag('block', '2048'));
  const backend = await activateBackend(flag('backend', 'wasm') as BackendPreference);
  console.log(
    `backend ${backend.name} (${backend.device}); n=${n} classes=${classes} d=${d} block=${blockSize} threads=${threadsFlag}`,
  );

  const data = normals(n * d, 42);
  const labels = sopLikeLabels(n, classes);
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 200);
  let lastPrint = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const ev = await evaluateRetrieval({ data, n, d }, labels, {
    blockSize,
    threads,
    onProgress: (done, total) => {
      const now = performance.now();
      if (now - lastPrint > 10000) {
        lastPrint = now;
        console.log(`  ${((100 * done) / total).toFixed(0)}% after ${((now - t0) / 1000).toFixed(1)} s`);
      }
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  console.log(
    `protocol: ${seconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} s CPU (all threads), on ${ev.threads} thread(s)${ev.threadNote ? ` (${ev.threadNote})` : ''}; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores`,
  );
  console.log(
    `  ${Object.entries(ev.metrics)
      .map(([k, v]) => `${k} ${(100 * v).toFixed(3)}%`)
      .join(', ')}; ${ev.numValidQueries} valid queries`,
  );
  console.log(
    `  peak process RSS ${mib(peakRss)} (all threads; maxRSS ${mib(process.resourceUsage().maxRSS * 1024)}), peak tf memory per thread ${mib(ev.peakTfBytes)}`,
  );

  // Index search (what `vembed search` does per query): gallery prepared and kept in tf memory once.
  const t1 = performance.now();
  const gallery = prepareGallery({ data, n, d });
  keepOnDevice(gallery);
  const t2 = performance.now();
  searchExact({ data: data.subarray(0, d), n: 1, d }, gallery, { k: 20 });
  const t3 = performance.now();
  const hits = searchExact({ data: data.subarray(d, 2 * d), n: 1, d }, gallery, { k: 20 });
  const t4 = performance.now();
  const batch = searchExact({ data: data.subarray(0, 256 * d), n: 256, d }, gallery, { k: 20 });
  const t5 = performance.now();
  const resident = tf.memory().numBytes;
  releaseFromDevice(gallery);
  clearInterval(sampler);
  const s = (a: number, b: number) => `${((b - a) / 1000).toFixed(3)} s`;
  console.log(
    `index search over ${n}: prepare + upload ${s(t1, t2)}, first query ${s(t2, t3)}, next query ${s(t3, t4)} (top hit ${hits.indices[0]}), 256 queries ${s(t4, t5)} (${batch.k} neighbours each); gallery in tf memory ${mib(resident)}, after release ${mib(tf.memory().numBytes)}`,
  );
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
