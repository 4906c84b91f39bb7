/**
 * DINOv2 as an ONNX graph (src/engine/onnx) against the independent PyTorch
 * reference fixtures (scripts/reference/make_dinov2_fixtures.py) and the
 * TF.js forward pass, run by onnxruntime-node: plain, SwiGLU and registers,
 * at the native size (no position resize), upsampled and a non-square
 * downsampled grid; CLS and mean pooling; a merged LoRA adapter; a
 * projection head.
 *
 * Tolerance 1e-4, as the TF.js reference test.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadImageEncoder } from '../../../src/engine/model';
import type { Dinov2ImageEncoder } from '../../../src/engine/model/encoder';
import { dinov2OnnxModel, INPUT_NAME, OUTPUT_NAME } from '../../../src/engine/onnx/dinov2Graph';
import { createOnnxSession } from '../../../src/engine/onnx/runtime';
import { OnnxPixelEmbedder } from '../../../src/engine/onnx/embedder';
import { tf } from '../../../src/engine/backend/tf';
import { toNchw } from './helpers';
import {
  expectedOutputs,
  FIXTURES,
  fixtureInputs,
  maxAbsDiff,
  pixels,
  take,
  useWasm,
  VARIANTS,
} from '../model/helpers';

const TOLERANCE = 1e-4;

before(useWasm);

async function onnxEmbed(
  encoder: Dinov2ImageEncoder,
  input: { shape: number[]; data: Float32Array },
  layout: 'nchw' | 'nhwc',
): Promise<Float32Array> {
  const [n, h, w, c] = input.shape as [number, number, number, number];
  const model = dinov2OnnxModel(encoder, { height: h, width: w, layout }, 'test').toBytes();
  const session = await createOnnxSession(model, { device: 'cpu', threads: 1 });
  try {
    const data = layout === 'nchw' ? toNchw(input.data, input.shape) : input.data;
    const dims = layout === 'nchw' ? [n, c, h, w] : [n, h, w, c];
    const out = await session.run({ [INPUT_NAME]: { data, dims } }, OUTPUT_NAME);
    assert.deepEqual(out.dims, [n, encoder.embeddingDim]);
    return out.data;
  } finally {
    await session.release();
  }
}

describe('DINOv2 ONNX graph in onnxruntime-node matches the PyTorch reference', () => {
  for (const variant of VARIANTS) {
    test(`${variant}: CLS and mean pooling at every fixture size, NCHW and NHWC input, within ${TOLERANCE}`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant));
      const expected = expectedOutputs(variant);
      try {
        for (const [name, input] of fixtureInputs()) {
          for (const pooling of ['cls', 'mean'] as const) {
            encoder.pooling = pooling;
            for (const layout of ['nchw', 'nhwc'] as const) {
              const d = maxAbsDiff(await onnxEmbed(encoder, input, layout), expected.get(`${name}.${pooling}`)!.data);
              assert.ok(d < TOLERANCE, `${variant}/${name}/${pooling}/${layout}: differs by ${d}`);
            }
          }
        }
      } finally {
        encoder.dispose();
      }
    });
  }

  test('a PEFT LoRA adapter is merged into the graph: equals the reference', async () => {
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'plain-lora'), {
      resolveBase: async () => path.join(FIXTURES, 'plain'),
    });
    try {
      assert.ok(encoder.loraModules().length > 0);
      const expected = expectedOutputs('plain-lora');
      for (const [name, input] of fixtureInputs()) {
        const d = maxAbsDiff(await onnxEmbed(encoder, input, 'nchw'), expected.get(`${name}.cls`)!.data);
        assert.ok(d < TOLERANCE, `${name}: differs by ${d}`);
      }
    } finally {
      encoder.dispose();
    }
  });

  test('a projection head: equals the TF.js path', async () => {
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'registers'));
    try {
      encoder.setProjectionHead(8);
      assert.equal(encoder.embeddingDim, 8);
      for (const [, input] of fixtureInputs()) {
        const x = pixels(input);
        const tfjs = take(encoder.embed(x));
        x.dispose();
        const d = maxAbsDiff(await onnxEmbed(encoder, input, 'nhwc'), tfjs);
        assert.ok(d < TOLERANCE, `differs by ${d}`);
      }
    } finally {
      encoder.dispose();
    }
  });

  test("the engine's embedder reads the weights as they are when it is built (per-epoch evaluation after training changed them)", async () => {
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'swiglu'));
    try {
      const [, input] = [...fixtureInputs()][0]!;
      const px = { data: input.data, n: input.shape[0]!, height: input.shape[1]!, width: input.shape[2]! };
      const before = await OnnxPixelEmbedder.create(encoder, { device: 'cpu', threads: 1 });
      const old = await before.embed(px);
      await before.release();
      // A training step's worth of change to every layer's first linear weight.
      for (const [name, v] of encoder.baseVariables())
        if (name.endsWith('mlp.weights_in.weight')) v.assign(tf.tidy(() => tf.mul(v, 1.5)) as typeof v);
      const after = await OnnxPixelEmbedder.create(encoder, { device: 'cpu', threads: 1 });
      const now = await after.embed(px);
      await after.release();
      const x = pixels(input);
      const tfjs = take(encoder.embed(x));
      x.dispose();
      assert.ok(maxAbsDiff(now, tfjs) < TOLERANCE, `differs from TF.js by ${maxAbsDiff(now, tfjs)}`);
      assert.ok(maxAbsDiff(old, tfjs) > 1e-2, 'the change must show in the embeddings');
    } finally {
      encoder.dispose();
    }
  });

  test('an input size that is not a multiple of the patch size is refused with the size in the message', async () => {
    const encoder = await loadImageEncoder(path.join(FIXTURES, 'plain'));
    try {
      assert.throws(
        () => dinov2OnnxModel(encoder, { height: 50, width: 56, layout: 'nchw' }, 'test'),
        /50x56 is not a positive multiple of the patch size/,
      );
    } finally {
      encoder.dispose();
    }
  });
});
