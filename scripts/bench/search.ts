/**
 * The SOP-size search of `npm run bench`, in a process of its own: the full
 * protocol (every image against all the others, Recall@1/10/100/1000, MAP@R,
 * 20 neighbours per query) on random 384-d embeddings shaped like the SOP test
 * split (60,502 images in 11,316 products of 2 to 12 images).
 *
 *   npx tsx scripts/bench/search.ts [--n 60502] [--classes 11316] [--dim 384] [--threads auto|N]
 *
 * Prints one JSON line (see `SearchResult`).
 */
import { activateBackend } from '../../src/engine/backend/ladder';
import { evaluateRetrieval } from '../../src/engine/retrieval/evaluate';
import { Rng } from '../../src/engine/util/rng';
import { flagNumber, flagString } from './flags';

export interface SearchResult {
  n: number;
  classes: number;
  dim: number;
  seconds: number;
  cpuSeconds: number;
  threads: number;
  threadNote?: string;
  peakRssBytes: number;
  recallAt1: number;
}

/** Product sizes between 2 and 12 adding up to n, as a shuffled label per image. */
function productLabels(n: number, classes: number, rng: Rng): Int32Array {
  if (n < 2 * classes || n > 12 * classes)
    throw new Error(`--n must lie between 2 and 12 times --classes (${n} vs ${classes})`);
  const sizes = new Int32Array(classes).fill(2);
  for (let left = n - 2 * classes; left > 0;) {
    const c = rng.int(classes);
    if (sizes[c]! < 12) {
      sizes[c]!++;
      left--;
    }
  }
  const labels = new Int32Array(n);
  let at = 0;
  for (let c = 0; c < classes; c++) for (let j = 0; j < sizes[c]!; j++) labels[at++] = c;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [labels[i], labels[j]] = [labels[j]!, labels[i]!];
  }
  return labels;
}

async function main(): Promise<void> {
  const n = flagNumber('n', 60502);
  const classes = flagNumber('classes', 11316);
  const dim = flagNumber('dim', 384);
  const threadsText = flagString('threads', 'auto');
  await activateBackend('wasm');
  const rng = new Rng(42);
  const labels = productLabels(n, classes, rng);
  // Products as clusters: each image is its product's centre plus noise, so the metrics are not trivial.
  const centres = Float32Array.from({ length: classes * dim }, () => rng.uniform(-1, 1));
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < dim; j++) data[i * dim + j] = centres[labels[i]! * dim + j]! + rng.uniform(-1.5, 1.5);
  const c0 = process.cpuUsage();
  const ev = await evaluateRetrieval({ data, n, d: dim }, labels, {
    threads: threadsText === 'auto' ? 'auto' : Number(threadsText),
  });
  const cpu = process.cpuUsage(c0);
  const result: SearchResult = {
    n,
    classes,
    dim,
    seconds: ev.seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    threads: ev.threads,
    ...(ev.threadNote ? { threadNote: ev.threadNote } : {}),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    recallAt1: ev.metrics['recall@1'] ?? NaN,
  };
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
