// Parameter gradients through a real (tiny) encoder: the plain path against
// PyTorch (test/fixtures/train/tiny_encoder.json), and the gradient cache
// against the plain path, with chunk sizes that do and do not divide the
// batch, with dropout, from pixel callbacks, and its memory behaviour.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor, type Tensor4D } from '../../../src/engine/backend/tf';
import type { PixelBatch } from '../../../src/engine/model/types';
import {
  cachedGradients,
  plainGradients,
  type GradientOptions,
  type PairBatch,
} from '../../../src/engine/train/gradients';
import type { LossConfig } from '../../../src/engine/train/loss';
import type { ChunkedPixels } from '../../../src/engine/train/pixels';
import { chunkDropoutSeed } from '../../../src/engine/train/seeds';
import { assertAllClose, loadFixture, maxAbs, maxAbsDiff } from './helpers/numeric';
import { TinyEncoder } from './helpers/tinyEncoder';

interface TinyFixture {
  height: number;
  width: number;
  hidden: number;
  dim: number;
  layer_norm_eps: number;
  temperature: number;
  triplet_margin: number;
  labels: number[];
  weights: Record<string, number[]>;
  queries: number[];
  positives: number[];
  cases: Array<{ loss_type: 'infonce' | 'triplet'; loss: number; grads: Record<string, number[]> }>;
}
const fx = loadFixture<TinyFixture>('tiny_encoder.json');
const N = fx.labels.length;

function fixtureEncoder(dropout = 0): TinyEncoder {
  return new TinyEncoder({
    height: fx.height,
    width: fx.width,
    hidden: fx.hidden,
    dim: fx.dim,
    layerNormEps: fx.layer_norm_eps,
    weights: fx.weights,
    dropout,
  });
}

function pixels(values: number[]): PixelBatch {
  return { data: Float32Array.from(values), n: N, height: fx.height, width: fx.width };
}

const fixtureBatch: PairBatch = { queries: pixels(fx.queries), positives: pixels(fx.positives), labels: fx.labels };

function lossConfig(lossType: 'infonce' | 'triplet'): LossConfig {
  return { loss_type: lossType, temperature: fx.temperature, triplet_margin: fx.triplet_margin };
}

function options(lossType: 'infonce' | 'triplet', chunkSize: number, training = false): GradientOptions {
  return { loss: lossConfig(lossType), chunkSize, training, seed: 42, step: 3 };
}

function toArrays(grads: Map<string, Tensor>): Map<string, Float32Array> {
  const out = new Map([...grads].map(([k, g]) => [k, new Float32Array(g.dataSync())]));
  for (const g of grads.values()) g.dispose();
  return out;
}

/** A random batch of `n` pairs of `size` x `size` images, labels with duplicates. */
function randomBatch(
  n: number,
  size: number,
  seed: number,
): { queries: PixelBatch; positives: PixelBatch; labels: number[] } {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const make = (): PixelBatch => ({
    data: Float32Array.from({ length: n * size * size * 3 }, next),
    n,
    height: size,
    width: size,
  });
  return {
    queries: make(),
    positives: make(),
    labels: Array.from({ length: n }, (_, i) => i % Math.max(1, Math.floor(n / 2))),
  };
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`gradients on ${backend}`, () => {
    before(async () => {
      await activateBackend(backend);
    });

    for (const c of fx.cases) {
      test(`${c.loss_type}: plain gradients of the tiny encoder match PyTorch`, () => {
        const encoder = fixtureEncoder();
        const { loss, grads } = plainGradients(encoder, fixtureBatch, options(c.loss_type, N));
        // float32 against float64 on the same inputs: loss rtol 1e-5; each
        // parameter's gradient rtol 1e-4 plus atol 1e-5 x its largest entry.
        assertAllClose([loss], [c.loss], { rtol: 1e-5, atol: 0 }, 'loss');
        const got = toArrays(grads);
        assert.deepEqual([...got.keys()].sort(), Object.keys(c.grads).sort());
        for (const [name, expected] of Object.entries(c.grads)) {
          assertAllClose(got.get(name)!, expected, { rtol: 1e-4, atol: 1e-5 * maxAbs(expected) }, `dLoss/d${name}`);
        }
        encoder.dispose();
      });

      // 6 pairs: chunks of 1, 2 and 3 divide the batch, 4 and 5 do not.
      for (const chunkSize of [1, 2, 3, 4, 5]) {
        test(`${c.loss_type}: the gradient cache with chunks of ${chunkSize} equals the plain gradient (max abs diff < 1e-5)`, () => {
          const encoder = fixtureEncoder();
          const plain = plainGradients(encoder, fixtureBatch, options(c.loss_type, N));
          const before = tf.memory().numTensors;
          const cached = cachedGradients(encoder, fixtureBatch, options(c.loss_type, chunkSize));
          assert.equal(tf.memory().numTensors - before, cached.grads.size, 'only the returned gradients stay alive');
          assert.ok(Math.abs(cached.loss - plain.loss) < 1e-6, `loss ${cached.loss} vs ${plain.loss}`);
          const a = toArrays(plain.grads);
          const b = toArrays(cached.grads);
          assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
          for (const [name, g] of a) {
            const diff = maxAbsDiff(b.get(name)!, g);
            assert.ok(diff < 1e-5, `${name}: max abs diff ${diff}`);
          }
          encoder.dispose();
        });
      }
    }

    test("with dropout on, the cache reproduces each chunk's masks and equals the plain gradient", () => {
      const encoder = fixtureEncoder(0.3);
      const chunkSize = 4;
      const plain = plainGradients(encoder, fixtureBatch, options('infonce', chunkSize, true));
      const plainSeeds = encoder.seenDropoutSeeds.splice(0);
      const cached = cachedGradients(encoder, fixtureBatch, options('infonce', chunkSize, true));
      const cachedSeeds = encoder.seenDropoutSeeds.splice(0);
      // Chunks [0,4) and [4,6) per side; the cache embeds each twice with the same seed.
      const seed = (side: 'query' | 'positive', i: number) => chunkDropoutSeed(42, 3, side, i);
      const onePass = [seed('query', 0), seed('query', 1), seed('positive', 0), seed('positive', 1)];
      assert.deepEqual(plainSeeds, onePass);
      assert.deepEqual(cachedSeeds, [...onePass, ...onePass]);
      assert.equal(new Set(onePass).size, 4, 'every chunk gets its own masks');
      assert.ok(Math.abs(cached.loss - plain.loss) < 1e-6);
      const a = toArrays(plain.grads);
      const b = toArrays(cached.grads);
      for (const [name, g] of a) assert.ok(maxAbsDiff(b.get(name)!, g) < 1e-5, name);
      // Dropout really is on: the same batch in evaluation mode gives another loss.
      const evaluation = plainGradients(encoder, fixtureBatch, options('infonce', chunkSize, false));
      toArrays(evaluation.grads);
      assert.ok(Math.abs(evaluation.loss - plain.loss) > 1e-4, 'dropout changed the loss');
      encoder.dispose();
    });

    test('pixels from a callback: never more than a chunk at once, same gradients as a PixelBatch', () => {
      const encoder = fixtureEncoder();
      const requested: number[] = [];
      const callback = (source: PixelBatch): ChunkedPixels => ({
        n: source.n,
        chunk(start, count): Tensor4D {
          requested.push(count);
          const per = source.height * source.width * 3;
          return tf.tensor4d(source.data.slice(start * per, (start + count) * per), [
            count,
            source.height,
            source.width,
            3,
          ]);
        },
      });
      const batch: PairBatch = {
        queries: callback(fixtureBatch.queries as PixelBatch),
        positives: callback(fixtureBatch.positives as PixelBatch),
        labels: fx.labels,
      };
      const viaCallback = cachedGradients(encoder, batch, options('infonce', 4));
      assert.deepEqual(
        requested,
        [4, 2, 4, 2, 4, 2, 4, 2],
        'each chunk asked for twice (both passes), never the whole batch',
      );
      const viaBatch = cachedGradients(encoder, fixtureBatch, options('infonce', 4));
      assert.equal(viaCallback.loss, viaBatch.loss);
      const a = toArrays(viaBatch.grads);
      const b = toArrays(viaCallback.grads);
      for (const [name, g] of a) assert.equal(maxAbsDiff(b.get(name)!, g), 0, name);
      const wrong: ChunkedPixels = { n: N, chunk: (_s, count) => tf.zeros([count, 2, 2, 1]) as Tensor4D };
      assert.throws(
        () => cachedGradients(encoder, { queries: wrong, positives: wrong }, options('infonce', 4)),
        /returned a \[4,2,2,1\] tensor.*expected \[4, H, W, 3\]/,
      );
      assert.throws(
        () =>
          cachedGradients(
            encoder,
            { queries: fixtureBatch.queries, positives: { ...(fixtureBatch.positives as PixelBatch), n: 5 } },
            options('infonce', 4),
          ),
        /6 query images but 5 positive images/,
      );
      encoder.dispose();
    });
  });
}

describe('memory of the gradient cache', () => {
  before(async () => {
    await activateBackend('cpu');
  });

  test('peak bytes follow the chunk size with the cache and the batch size without it', async () => {
    // Big enough activations (hidden 256 on 16x16 images) that they dominate.
    const encoder = new TinyEncoder({ height: 16, width: 16, hidden: 256, dim: 32, seed: 5 });
    const peak = async (n: number, cached: boolean): Promise<number> => {
      const batch = randomBatch(n, 16, n);
      const opts: GradientOptions = { loss: lossConfig('infonce'), chunkSize: 4, training: false, seed: 1, step: 1 };
      const info = await tf.profile(() => {
        const r = (cached ? cachedGradients : plainGradients)(encoder, batch, opts);
        for (const g of r.grads.values()) g.dispose();
      });
      return info.peakBytes;
    };
    const cachedSmall = await peak(8, true);
    const cachedLarge = await peak(64, true);
    const plainSmall = await peak(8, false);
    const plainLarge = await peak(64, false);
    const perImageInput = 16 * 16 * 3 * 4;
    // The cache keeps [n, D] embeddings, their gradients and the [n, n]
    // logits besides one chunk: far less than one more input image per pair.
    assert.ok(
      cachedLarge - cachedSmall < 56 * perImageInput * 0.5,
      `cache: peak ${cachedSmall} -> ${cachedLarge} bytes from 8 to 64 pairs`,
    );
    // Without the cache, 56 more pairs of inputs sit on the heap at once.
    assert.ok(
      plainLarge - plainSmall > 2 * 56 * perImageInput,
      `plain: peak ${plainSmall} -> ${plainLarge} bytes from 8 to 64 pairs`,
    );
    encoder.dispose();
  });
});
