/**
 * The ONNX training graphs (src/engine/onnx/trainGraph.ts: the forward graph
 * with weights as inputs, its backward pass derived by autodiff.ts), run by
 * onnxruntime-node, against the TF.js path's hand-written backward pass
 * (train/gradients.ts, chunkParameterGradients), which test/engine/model and
 * test/interop hold against PyTorch: every fixture variant, full
 * fine-tuning and LoRA (dropout off), CLS and mean pooling, with and without
 * a projection head, at the native size, a resized size and a non-square
 * one. Surrogate loss ⟨embedding, R⟩ for a fixed R, as the gradient cache's
 * second pass computes it.
 *
 * Tolerance: the project's gradient tolerance, max |diff| <= 1e-4 · max(1,
 * max |grad|) per parameter (test/engine/model/gradients.test.ts).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { tf, type Tensor2D } from '../../../src/engine/backend/tf';
import { loadImageEncoder, type FinetuneMode } from '../../../src/engine/model';
import type { Dinov2ImageEncoder } from '../../../src/engine/model/encoder';
import { loraMaskName } from '../../../src/engine/onnx/dinov2Graph';
import {
  groupChunks,
  OnnxGradients,
  wholeBackwardBytesPerImage,
  type OnnxTrainerOptions,
} from '../../../src/engine/onnx/trainer';
import { trainingGraphs, type BackwardPart } from '../../../src/engine/onnx/trainGraph';
import type { PixelBatch } from '../../../src/engine/model/types';
import { chunkRanges } from '../../../src/engine/train/pixels';
import {
  cachedGradients,
  chunkParameterGradients,
  disposeGradients,
  trainableList,
  type Gradient,
  type GradientOptions,
} from '../../../src/engine/train/gradients';
import { Rng } from '../../../src/engine/util/rng';
import { FIXTURES, fixtureInputs, take, useWasm, VARIANTS } from '../model/helpers';

before(useWasm);

const LORA: FinetuneMode = {
  kind: 'lora',
  settings: { r: 3, alpha: 6, dropout: 0, targetModules: 'all-linear' },
};

/** LoRA B starts at zero (A's gradient would be zero too): give it values so both gradients are tested. */
function perturbLoraB(encoder: Dinov2ImageEncoder): void {
  const vars = encoder.trainableVariables();
  for (const modulePath of encoder.loraModules()) {
    const b = vars.get(`${modulePath}.lora_B.weight`)!;
    b.assign(tf.tidy(() => tf.randomNormal(b.shape, 0, 0.3, 'float32', 3)));
  }
}

function assertGradientsClose(
  onnx: Map<string, Float32Array>,
  reference: Map<string, Float32Array>,
  where: string,
): number {
  assert.deepEqual(
    [...onnx.keys()].sort(),
    [...reference.keys()].sort(),
    `${where}: the same parameters get gradients`,
  );
  let worst = 0;
  for (const [name, ref] of reference) {
    const got = onnx.get(name)!;
    assert.equal(got.length, ref.length, `${where}/${name}: size`);
    let scale = 1;
    let diff = 0;
    for (let i = 0; i < ref.length; i++) {
      scale = Math.max(scale, Math.abs(ref[i]!));
      diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
    }
    worst = Math.max(worst, diff / scale);
    assert.ok(diff <= 1e-4 * scale, `${where}/${name}: gradient differs by ${diff} (scale ${scale})`);
  }
  return worst;
}

async function compare(
  encoder: Dinov2ImageEncoder,
  where: string,
  extra: Partial<OnnxTrainerOptions> = {},
): Promise<void> {
  const onnx = await OnnxGradients.create(encoder, { device: 'cpu', threads: 1, ...extra });
  try {
    for (const [name, input] of fixtureInputs()) {
      const [n, height, width] = input.shape as [number, number, number, number];
      const px = { data: input.data, n, height, width };
      const r = tf.randomNormal([n, encoder.embeddingDim], 0, 1, 'float32', 11) as Tensor2D;
      const upstream = r.dataSync() as Float32Array;
      const vars = trainableList(encoder);
      const tfGrads = chunkParameterGradients(encoder, vars, px, 'query', { index: 0, start: 0, count: n }, r, {
        training: false,
        seed: 0,
        step: 1,
      });
      r.dispose();
      const reference = new Map([...tfGrads].map(([k, t]) => [k, take(t)] as const));
      const got = await onnx.chunkGradients(px, upstream, null);
      // A gradient that is all zeros would pass trivially: the surrogate must reach every parameter.
      for (const [k, g] of reference)
        assert.ok(
          g.some((v) => v !== 0),
          `${where}/${name}/${k}: zero reference`,
        );
      assertGradientsClose(got, reference, `${where}/${name}`);

      // The embedding pass equals the TF.js embedding.
      const x = tf.tensor4d(input.data, input.shape as [number, number, number, number]);
      const expected = take(encoder.embed(x));
      x.dispose();
      const embedded = await onnx.embedChunk(px, null);
      let d = 0;
      for (let i = 0; i < expected.length; i++) d = Math.max(d, Math.abs(embedded[i]! - expected[i]!));
      assert.ok(d < 1e-4, `${where}/${name}: embeddings differ by ${d}`);
    }
  } finally {
    await onnx.close();
  }
}

describe('the backward graphs of the layers', () => {
  for (const [label, finetune] of [
    ['LoRA with dropout', { kind: 'lora', settings: { ...LORA.settings, dropout: 0.1 } }],
    ['full fine-tuning', { kind: 'full' }],
  ] as Array<[string, FinetuneMode]>) {
    test(`${label}: layers of one structure have one graph, fed with their own weights`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, 'swiglu'), { finetune, seed: 4 });
      try {
        const graphs = trainingGraphs(encoder, { height: 56, width: 56, loraDropout: finetune.kind === 'lora' });
        const layers = graphs.backward.filter((p) => p.segment.kind === 'layer');
        assert.equal(layers.length, 2);
        const [a, b] = layers as [BackwardPart, BackwardPart];
        assert.deepEqual(a.bytes, b.bytes);
        // Every broadcast in a layer is decided when the graph is built: no shapes compared at run time.
        for (const part of graphs.backward) assert.ok(!Buffer.from(part.bytes).includes('NonZero'), part.segment.kind);
        // The same inputs, fed from each layer's own parameters, and every trainable one gets its gradient.
        assert.deepEqual([...a.weights.keys()], [...b.weights.keys()]);
        for (const [part, i] of [
          [a, 1],
          [b, 0],
        ] as Array<[BackwardPart, number]>) {
          assert.equal(part.segment.kind === 'layer' && part.segment.index, i);
          for (const param of part.weights.values()) assert.ok(param.startsWith(`encoder.layer.${i}.`), param);
          for (const [, param] of part.gradients) assert.ok(param.startsWith(`encoder.layer.${i}.`), param);
        }
        const trainable = [...encoder.trainableVariables().keys()].filter((n) => n.startsWith('encoder.layer.'));
        assert.deepEqual(layers.flatMap((p) => p.gradients.map(([, param]) => param)).sort(), trainable.sort());
        if (finetune.kind === 'lora') {
          // Frozen weights are inputs too, and each layer's masks are its own adapters'.
          assert.ok([...a.weights.values()].some((n) => !encoder.trainableVariables().has(n)));
          const modules = encoder.loraModules();
          for (const [part, i] of [
            [a, 1],
            [b, 0],
          ] as Array<[BackwardPart, number]>) {
            const own = modules.flatMap((m, k) => (m.startsWith(`encoder.layer.${i}.`) ? [loraMaskName(k)] : []));
            assert.deepEqual([...part.masks.values()].sort(), own.sort());
          }
        }
      } finally {
        encoder.dispose();
      }
    });
  }
});

describe('ONNX training graphs: gradients equal the TF.js path', () => {
  for (const variant of VARIANTS) {
    for (const [label, finetune] of [
      ['full fine-tuning', { kind: 'full' }],
      ['LoRA on every linear layer', LORA],
    ] as Array<[string, FinetuneMode]>) {
      for (const pooling of ['cls', 'mean'] as const) {
        const head = pooling === 'mean';
        test(`${variant}, ${label}, ${pooling} pooling${head ? ', projection head' : ''}`, async () => {
          const encoder = await loadImageEncoder(path.join(FIXTURES, variant), { finetune, seed: 4 });
          try {
            encoder.pooling = pooling;
            if (head) encoder.setProjectionHead(8);
            if (finetune.kind === 'lora') perturbLoraB(encoder);
            await compare(encoder, `${variant}/${finetune.kind}/${pooling}`);
          } finally {
            encoder.dispose();
          }
        });
      }
    }
  }
});

describe('the whole-model backward graph (small models, one session run) equals the TF.js path', () => {
  // Chunks of 4 fit the default budget at the fixtures' sizes: the trainer picks the whole-model graph.
  for (const variant of VARIANTS) {
    for (const [label, finetune] of [
      ['full fine-tuning', { kind: 'full' }],
      ['LoRA on every linear layer', LORA],
    ] as Array<[string, FinetuneMode]>) {
      test(`${variant}, ${label}, cls pooling`, async () => {
        const encoder = await loadImageEncoder(path.join(FIXTURES, variant), { finetune, seed: 4 });
        try {
          if (finetune.kind === 'lora') perturbLoraB(encoder);
          await compare(encoder, `${variant}/${finetune.kind}/whole`, { chunkSize: 4 });
        } finally {
          encoder.dispose();
        }
      });
    }
  }
});

test('consecutive chunks are grouped into runs of at most the images given, in order', () => {
  const ranges = chunkRanges(11, 3); // 3, 3, 3, 2
  assert.deepEqual(
    groupChunks(ranges, 6).map((run) => run.map((r) => r.index)),
    [
      [0, 1],
      [2, 3],
    ],
  );
  assert.deepEqual(
    groupChunks(ranges, 8).map((run) => run.map((r) => r.index)),
    [
      [0, 1],
      [2, 3],
    ],
  );
  assert.deepEqual(
    groupChunks(ranges, 100).map((run) => run.map((r) => r.index)),
    [[0, 1, 2, 3]],
  );
  // A budget below one chunk still runs each chunk (alone).
  assert.deepEqual(
    groupChunks(ranges, 2).map((run) => run.map((r) => r.index)),
    [[0], [1], [2], [3]],
  );
});

/** Random normalised pixels, n images of size x size. */
function randomPixels(n: number, size: number, seed: number): PixelBatch {
  const rng = new Rng(seed);
  const data = new Float32Array(n * size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-2, 2);
  return { data, n, height: size, width: size };
}

describe('the gradient cache on ONNX Runtime equals the TF.js gradient cache (loss and gradients)', () => {
  const cases: Array<[string, FinetuneMode, 'cls' | 'mean', 'infonce' | 'triplet']> = [
    ['LoRA, dropout 0.2', { kind: 'lora', settings: { ...LORA.settings, dropout: 0.2 } }, 'cls', 'infonce'],
    ['LoRA, dropout 0.2', { kind: 'lora', settings: { ...LORA.settings, dropout: 0.2 } }, 'mean', 'triplet'],
    ['full fine-tuning', { kind: 'full' }, 'cls', 'infonce'],
    ['LoRA, dropout 0.2', { kind: 'lora', settings: { ...LORA.settings, dropout: 0.2 } }, 'mean', 'infonce'],
  ];
  /** One case's encoder (registers fixture), batch (5 pairs) and step options (chunks of 2, training). */
  async function cacheCase([, finetune, pooling, lossType]: (typeof cases)[number]) {
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'registers'), { finetune, seed: 4 });
    encoder.pooling = pooling;
    if (finetune.kind === 'lora') perturbLoraB(encoder);
    const batch = { queries: randomPixels(5, 56, 1), positives: randomPixels(5, 56, 2), labels: [0, 1, 2, 0, 3] };
    const options: GradientOptions = {
      loss: { loss_type: lossType, temperature: 0.1, triplet_margin: 0.2 },
      chunkSize: 2,
      training: true,
      seed: 42,
      step: 3,
    };
    return { encoder, batch, options };
  }

  for (const c of cases) {
    const [label, , pooling, lossType] = c;
    test(`${label}, ${pooling} pooling, ${lossType}, 5 pairs in chunks of 2, training mode`, async () => {
      const { encoder, batch, options } = await cacheCase(c);
      const onnx = await OnnxGradients.create(encoder, { device: 'cpu', threads: 1 });
      try {
        const ref = cachedGradients(encoder, batch, options);
        const got = await onnx.cachedGradients(encoder, batch, options);
        assert.ok(Number.isFinite(ref.loss) && ref.loss > 0);
        assert.ok(Math.abs(got.loss - ref.loss) < 1e-4, `loss ${got.loss} vs ${ref.loss}`);
        const toArrays = (m: Map<string, Gradient>) => new Map([...m].map(([k, t]) => [k, take(t)] as const));
        assertGradientsClose(toArrays(got.grads), toArrays(ref.grads), label);
      } finally {
        await onnx.close();
        encoder.dispose();
      }
    });
  }

  for (const c of cases) {
    const [label, , pooling, lossType] = c;
    test(`${label}, ${pooling} pooling, ${lossType}: the whole-model graph, chunks of 2 run together or in twos`, async () => {
      const { encoder, batch, options } = await cacheCase(c);
      const ref = cachedGradients(encoder, batch, options);
      const refGrads = new Map([...ref.grads].map(([k, t]) => [k, take(t)] as const));
      // The default budget holds both sides' 10 images: one run a pass, and with InfoNCE one run for the whole
      // step (embedding, loss and gradients in one graph: wholeStepGraph). A budget of 4 images' activations
      // groups the chunks 2 2 1 | 2 2 1 (query | positive) as 2+2, 1+2 (across the sides) and 2+1: three runs a
      // pass. Either way each chunk keeps its own dropout masks.
      try {
        for (const [budgetImages, runs] of [
          [undefined, lossType === 'infonce' ? 1 : 1 + 1],
          [4, 3 + 3],
        ] as const) {
          const wholeBackwardBytes = budgetImages && budgetImages * wholeBackwardBytesPerImage(encoder.config, 56, 56);
          const onnx = await OnnxGradients.create(encoder, {
            device: 'cpu',
            threads: 1,
            chunkSize: 2,
            ...(wholeBackwardBytes ? { wholeBackwardBytes } : {}),
          });
          try {
            const got = await onnx.cachedGradients(encoder, batch, options);
            assert.equal(onnx.lastSessionRuns, runs, `session runs with a budget of ${budgetImages ?? 'default'}`);
            assert.ok(Math.abs(got.loss - ref.loss) < 1e-4, `loss ${got.loss} vs ${ref.loss}`);
            const toArrays = (m: Map<string, Gradient>) => new Map([...m].map(([k, t]) => [k, take(t)] as const));
            assertGradientsClose(toArrays(got.grads), refGrads, `${label}, budget ${budgetImages ?? 'default'}`);
          } finally {
            await onnx.close();
          }
        }
      } finally {
        disposeGradients(ref.grads.values());
        encoder.dispose();
      }
    });
  }

  test('the one-run step without labels, in eval mode, equals the TF.js gradient cache', async () => {
    const { encoder, batch, options } = await cacheCase(cases[3]!);
    const unlabelled = { queries: batch.queries, positives: batch.positives };
    const evalMode = { ...options, training: false };
    const onnx = await OnnxGradients.create(encoder, {
      device: 'cpu',
      threads: 1,
      chunkSize: 2,
      batch: { pairs: 5, lossType: 'infonce' },
    });
    try {
      const ref = cachedGradients(encoder, unlabelled, evalMode);
      const got = await onnx.cachedGradients(encoder, unlabelled, evalMode);
      assert.equal(onnx.lastSessionRuns, 1);
      // The one run is the step's graph time; there is no separate embedding pass or loss.
      assert.ok(onnx.lastTimings.backward > 0 && onnx.lastTimings.forward === 0 && onnx.lastTimings.loss === 0);
      assert.ok(Math.abs(got.loss - ref.loss) < 1e-4, `loss ${got.loss} vs ${ref.loss}`);
      const toArrays = (m: Map<string, Gradient>) => new Map([...m].map(([k, t]) => [k, take(t)] as const));
      assertGradientsClose(toArrays(got.grads), toArrays(ref.grads), 'no labels, eval mode');
      disposeGradients(ref.grads.values());
    } finally {
      await onnx.close();
      encoder.dispose();
    }
  });

  test('the one-run step: a non-finite loss gives no gradients, bad temperatures and labels are refused', async () => {
    const { encoder, batch, options } = await cacheCase(cases[2]!);
    const onnx = await OnnxGradients.create(encoder, { device: 'cpu', threads: 1, chunkSize: 2 });
    try {
      await assert.rejects(
        onnx.cachedGradients(encoder, { ...batch, labels: [0, 1, 2] }, options),
        /InfoNCE loss: 3 labels for a batch of 5 pairs; give one label per pair \(or none\)\./,
      );
      const queries = { ...batch.queries, data: batch.queries.data.slice() };
      queries.data[7] = NaN;
      const got = await onnx.cachedGradients(encoder, { ...batch, queries }, options);
      assert.equal(onnx.lastSessionRuns, 1);
      assert.ok(Number.isNaN(got.loss), `loss ${got.loss}`);
      assert.equal(got.grads.size, 0);
      await assert.rejects(
        onnx.cachedGradients(encoder, batch, { ...options, loss: { ...options.loss, temperature: 0 } }),
        /temperature must be > 0, got 0/,
      );
    } finally {
      await onnx.close();
      encoder.dispose();
    }
  });

  test('layer inputs kept from the embedding pass, or computed again, give the same step', async () => {
    const finetune: FinetuneMode = { kind: 'lora', settings: { ...LORA.settings, dropout: 0.2 } };
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'registers'), { finetune, seed: 4 });
    perturbLoraB(encoder);
    // registers at 56 px: 1 + 4 + 16 tokens of 32 floats, in 3 layer inputs: 8,064 bytes an image.
    const perImage = (1 + 4 + 16) * 32 * 4 * 3;
    const budgets = [undefined, 0, 2 * 2 * perImage]; // all kept, none, the first two chunks of 2
    const steps = [];
    for (const keptTokensBytes of budgets) {
      const onnx = await OnnxGradients.create(encoder, { device: 'cpu', threads: 1, keptTokensBytes });
      try {
        const batch = { queries: randomPixels(5, 56, 1), positives: randomPixels(5, 56, 2) };
        steps.push(
          await onnx.cachedGradients(encoder, batch, {
            loss: { loss_type: 'infonce', temperature: 0.1, triplet_margin: 0.2 },
            chunkSize: 2,
            training: true,
            seed: 42,
            step: 3,
          }),
        );
      } finally {
        await onnx.close();
      }
    }
    encoder.dispose();
    const [all, ...others] = steps.map((s) => ({
      loss: s.loss,
      grads: new Map([...s.grads].map(([k, t]) => [k, take(t)] as const)),
    }));
    // The same graph on the same inputs: the same numbers, to the bit.
    for (const other of others) {
      assert.equal(other.loss, all!.loss);
      for (const [name, g] of all!.grads) assert.deepEqual(other.grads.get(name), g, name);
    }
  });

  test('dropout reaches the ONNX graphs: another seed gives other gradients', async () => {
    const finetune: FinetuneMode = { kind: 'lora', settings: { ...LORA.settings, dropout: 0.2 } };
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'plain'), { finetune, seed: 4 });
    const onnx = await OnnxGradients.create(encoder, { device: 'cpu', threads: 1 });
    try {
      perturbLoraB(encoder);
      const batch = { queries: randomPixels(4, 56, 1), positives: randomPixels(4, 56, 2) };
      const options = (seed: number): GradientOptions => ({
        loss: { loss_type: 'infonce', temperature: 0.1, triplet_margin: 0.2 },
        chunkSize: 2,
        training: true,
        seed,
        step: 1,
      });
      const a = await onnx.cachedGradients(encoder, batch, options(1));
      const b = await onnx.cachedGradients(encoder, batch, options(2));
      assert.notEqual(a.loss, b.loss);
      for (const m of [a.grads, b.grads]) disposeGradients(m.values());
    } finally {
      await onnx.close();
      encoder.dispose();
    }
  });
});
