/**
 * The machine's compute ceiling for DINOv2-small: how fast ONNX Runtime's
 * CPU provider multiplies float32 matrices of the model's own product shapes
 * (the q/k/v/o projections and the two MLP products, one 32-image batch of
 * 224-px tokens, chained inside one graph run), and what that rate allows at
 * most, from the model's floating-point operations per image.
 *
 *   npx tsx scripts/bench/ceiling.ts [--threads auto] [--repeats 5]
 *
 * A matrix product is the fastest thing a transformer does (everything else
 * is memory-bound), so no implementation of the same arithmetic, on any
 * framework, embeds or trains faster than these ceilings on this machine.
 * Prints one JSON line (see `CeilingResult`).
 */
import * as os from 'node:os';
import { FLOAT, GraphBuilder } from '../../src/engine/onnx/graph';
import { createOnnxSession } from '../../src/engine/onnx/runtime';
import { flagNumber, flagString } from './flags';

export interface CeilingResult {
  threads: number;
  /** GFLOP/s of each product shape, best of --repeats. */
  products: Array<{ shape: string; gflops: number }>;
  /** The products' rate weighted by how much of the model's arithmetic each shape does. */
  gflops: number;
  /** Forward pass of one 224-px image, GFLOP. */
  forwardGflop: number;
  /** Forward passes' worth of products a training step costs per image (`TRAINING_FORWARDS`). */
  trainingForwards: typeof TRAINING_FORWARDS;
  /** Images/s at `gflops`: embedding, and training with the gradient cache (see `TRAINING_FORWARDS`). */
  ceiling: { embed: number; lora: number; full: number };
}

/**
 * Forward passes' worth of products a gradient-cache training step costs per
 * image: the embedding pass, the forward recomputed for the backward pass,
 * the gradients of every product's input (as many multiply-adds as the
 * forward), and for full fine-tuning the gradients of every weight (as many
 * again).
 */
export const TRAINING_FORWARDS = { lora: 3, full: 4 } as const;

/** DINOv2-small at 224 px: 257 tokens, hidden 384, MLP 1536, 12 layers, patches 14 x 14 x 3. */
const GEOMETRY = { tokens: 257, hidden: 384, mlp: 1536, layers: 12, patchValues: 588 };

/** Multiply-adds x 2 of one image's forward pass (products only). */
export function forwardFlops(g = GEOMETRY): number {
  const { tokens: T, hidden: D, mlp: F, layers: L, patchValues: P } = g;
  const projections = 4 * T * D * D; // q, k, v, o
  const attention = 2 * T * T * D; // q kᵀ and probabilities × v, over all heads
  const mlp = 2 * T * D * F;
  return 2 * ((T - 1) * P * D + L * (projections + attention + mlp));
}

/**
 * GFLOP/s of a chain of products inside one graph run, [m, k] · [k, n] then back with [n, k] (the MLP's
 * pair; k = n for the projections), `pairs` times, down to one number at the end: the input and output
 * copies are then a negligible share of the time, as in a model.
 */
async function chainRate(m: number, k: number, n: number, threads: number, repeats: number): Promise<number> {
  const pairs = 4;
  const g = new GraphBuilder('gemm_chain');
  let x = g.input('x', FLOAT, [m, k]);
  const up = g.input('up', FLOAT, [k, n]);
  const down = g.input('down', FLOAT, [n, k]);
  for (let i = 0; i < pairs; i++) x = g.op('MatMul', [g.op('MatMul', [x, up]), down]);
  g.output(g.op('ReduceSum', [x], { keepdims: { int: 0 } }), 'sum', FLOAT, []);
  const session = await createOnnxSession(g.toModel({ name: 'ceiling', version: '0' }).toBytes(), {
    device: 'cpu',
    threads,
  });
  try {
    // Small values (products of ±1/k-scaled entries stay near 1): no overflow, no denormals.
    const fill = (size: number, scale: number) =>
      Float32Array.from({ length: size }, (_, i) => scale * (((i * 7919) % 1000) / 1000 - 0.5));
    const feeds = {
      x: { data: fill(m * k, 1), dims: [m, k] },
      up: { data: fill(k * n, 2 / Math.sqrt(k)), dims: [k, n] },
      down: { data: fill(n * k, 2 / Math.sqrt(n)), dims: [n, k] },
    };
    await session.run(feeds, 'sum');
    const flops = pairs * 2 * (2 * m * k * n);
    let best = 0;
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      await session.run(feeds, 'sum');
      best = Math.max(best, flops / ((performance.now() - t0) / 1000) / 1e9);
    }
    return best;
  } finally {
    await session.release();
  }
}

async function main(): Promise<void> {
  // ONNX Runtime's intra-op threads, one per core by default (as the engine runs it).
  const threads = flagString('threads', 'auto') === 'auto' ? os.availableParallelism() : flagNumber('threads', 1);
  const repeats = flagNumber('repeats', 5);
  const { tokens: T, hidden: D, mlp: F, layers: L } = GEOMETRY;
  const rows = 32 * T;
  // The projections (q, k, v, o) and the MLP, each with its share of the forward pass's products;
  // the attention's own products (~10%) are counted at the mix's rate.
  const shapes: Array<[string, number, number, number, number]> = [
    ['projections', rows, D, D, L * 4 * T * D * D],
    ['MLP', rows, D, F, L * 2 * T * D * F],
  ];
  const products: CeilingResult['products'] = [];
  let weighted = 0;
  let weights = 0;
  for (const [what, m, k, n, share] of shapes) {
    const gflops = await chainRate(m, k, n, threads, repeats);
    products.push({ shape: `${what} ${m}x${k}·${k}x${n}${k === n ? '' : `·${n}x${k}`}`, gflops });
    // Time-weighted: the rate at which this mix of products runs.
    weighted += share / gflops;
    weights += share;
  }
  const gflops = weights / weighted;
  const forwardGflop = forwardFlops() / 1e9;
  const embed = gflops / forwardGflop;
  const result: CeilingResult = {
    threads,
    products,
    gflops,
    forwardGflop,
    trainingForwards: TRAINING_FORWARDS,
    ceiling: { embed, lora: embed / TRAINING_FORWARDS.lora, full: embed / TRAINING_FORWARDS.full },
  };
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
