import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mlpHiddenSize, parseDinov2Config, parseImageProcessing } from '../../../src/engine/model';
import { gridResizeMatrix, resizeMatrix } from '../../../src/engine/model/interpolate';

/** facebook/dinov2-small's config.json. */
const SMALL = {
  architectures: ['Dinov2Model'],
  attention_probs_dropout_prob: 0,
  drop_path_rate: 0,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0,
  hidden_size: 384,
  image_size: 518,
  initializer_range: 0.02,
  layer_norm_eps: 1e-6,
  layerscale_value: 1,
  mlp_ratio: 4,
  model_type: 'dinov2',
  num_attention_heads: 6,
  num_channels: 3,
  num_hidden_layers: 12,
  patch_size: 14,
  qkv_bias: true,
  torch_dtype: 'float32',
  transformers_version: '4.31.0.dev0',
  use_swiglu_ffn: false,
};

/** facebook/dinov2-small's preprocessor_config.json (BitImageProcessor). */
const BIT = {
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_convert_rgb: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  image_mean: [0.485, 0.456, 0.406],
  image_processor_type: 'BitImageProcessor',
  image_std: [0.229, 0.224, 0.225],
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 256 },
};

describe('config.json', () => {
  test('DINOv2-small parses', () => {
    const c = parseDinov2Config(SMALL, 'config.json');
    assert.equal(c.modelType, 'dinov2');
    assert.equal(c.hiddenSize, 384);
    assert.equal(c.numHiddenLayers, 12);
    assert.equal(c.numAttentionHeads, 6);
    assert.equal(c.patchSize, 14);
    assert.equal(c.imageSize, 518);
    assert.equal(c.layerNormEps, 1e-6);
    assert.equal(c.numRegisterTokens, 0);
    assert.equal(mlpHiddenSize(c), 1536);
  });

  test('giant: SwiGLU hidden size rounds 2/3 of 4 * 1536 up to a multiple of 8 (4096)', () => {
    const giant = parseDinov2Config(
      { ...SMALL, hidden_size: 1536, num_hidden_layers: 40, num_attention_heads: 24, use_swiglu_ffn: true },
      'c',
    );
    assert.equal(mlpHiddenSize(giant), 4096);
    const odd = parseDinov2Config({ ...SMALL, hidden_size: 32, num_attention_heads: 4, use_swiglu_ffn: true }, 'c');
    assert.equal(mlpHiddenSize(odd), 88); // int(128 * 2 / 3) = 85 -> 88
  });

  test('registers: num_register_tokens defaults to 4 as in transformers', () => {
    const c = parseDinov2Config({ ...SMALL, model_type: 'dinov2_with_registers' }, 'c');
    assert.equal(c.numRegisterTokens, 4);
    assert.equal(
      parseDinov2Config({ ...SMALL, model_type: 'dinov2_with_registers', num_register_tokens: 0 }, 'c')
        .numRegisterTokens,
      0,
    );
  });

  test('optional fields take transformers defaults', () => {
    const {
      mlp_ratio: _m,
      qkv_bias: _q,
      use_swiglu_ffn: _s,
      layerscale_value: _l,
      num_channels: _n,
      hidden_act: _h,
      ...bare
    } = SMALL;
    const c = parseDinov2Config(bare, 'c');
    assert.equal(c.mlpRatio, 4);
    assert.equal(c.qkvBias, true);
    assert.equal(c.useSwigluFfn, false);
    assert.equal(c.numChannels, 3);
  });

  test('missing and invalid fields name the file and the key', () => {
    const { hidden_size: _h, ...noHidden } = SMALL;
    assert.throws(
      () => parseDinov2Config(noHidden, '/m/config.json'),
      /\/m\/config\.json: `hidden_size` is missing; a DINOv2 config\.json must set it/,
    );
    const { layer_norm_eps: _e, ...noEps } = SMALL;
    assert.throws(() => parseDinov2Config(noEps, 'c.json'), /`layer_norm_eps` is missing/);
    assert.throws(
      () => parseDinov2Config({ ...SMALL, num_hidden_layers: '12' }, 'c.json'),
      /c\.json: `num_hidden_layers` must be an integer >= 1, got "12"/,
    );
    assert.throws(
      () => parseDinov2Config({ ...SMALL, use_swiglu_ffn: 'yes' }, 'c.json'),
      /`use_swiglu_ffn` must be true or false/,
    );
    assert.throws(
      () => parseDinov2Config({ ...SMALL, num_attention_heads: 5 }, 'c.json'),
      /`hidden_size` 384 is not a multiple of `num_attention_heads` 5/,
    );
    assert.throws(
      () => parseDinov2Config({ ...SMALL, image_size: 500 }, 'c.json'),
      /`image_size` 500 is not a multiple of `patch_size` 14/,
    );
    assert.throws(
      () => parseDinov2Config({ ...SMALL, hidden_act: 'gelu_new' }, 'c.json'),
      /`hidden_act` is "gelu_new"; only "gelu" \(exact, erf\) is implemented/,
    );
    assert.throws(
      () => parseDinov2Config({ ...SMALL, model_type: 'vit' }, 'c.json'),
      /`model_type` is "vit"; this engine runs DINOv2 models only/,
    );
  });
});

describe('preprocessor_config.json', () => {
  test('BitImageProcessor fields', () => {
    assert.deepEqual(parseImageProcessing(BIT, 'p', { patchSize: 14 }), {
      imageSize: 224,
      resizeShortestEdge: 256,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      rescaleFactor: 0.00392156862745098,
    });
  });

  test('missing fields take DINOv2 values; no normalisation means mean 0, std 1', () => {
    assert.deepEqual(parseImageProcessing({}, 'p', { patchSize: 14 }), {
      imageSize: 224,
      resizeShortestEdge: 256,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      rescaleFactor: 1 / 255,
    });
    const raw = parseImageProcessing(
      { ...BIT, do_normalize: false, do_rescale: false, crop_size: 112, size: { shortest_edge: 128 } },
      'p',
      { patchSize: 14 },
    );
    assert.deepEqual(raw, {
      imageSize: 112,
      resizeShortestEdge: 128,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      rescaleFactor: 1,
    });
  });

  test('the training image_size overrides the crop; the shortest edge scales by 256/224', () => {
    assert.equal(parseImageProcessing(BIT, 'p', { patchSize: 14, imageSize: 448 }).resizeShortestEdge, 512);
    assert.deepEqual(
      (({ imageSize, resizeShortestEdge }) => ({ imageSize, resizeShortestEdge }))(
        parseImageProcessing(BIT, 'p', { patchSize: 14, imageSize: 140 }),
      ),
      { imageSize: 140, resizeShortestEdge: 160 },
    );
    assert.throws(
      () => parseImageProcessing(BIT, 'p', { patchSize: 14, imageSize: 150 }),
      /`image_size` is 150; it must be a positive multiple of the patch size 14 \(e\.g\. 154\)/,
    );
  });

  test('invalid fields name the file', () => {
    assert.throws(
      () => parseImageProcessing({ ...BIT, image_mean: [0.5, 0.5] }, '/m/preprocessor_config.json', { patchSize: 14 }),
      /\/m\/preprocessor_config\.json: `image_mean` must be a list of 3 numbers/,
    );
    assert.throws(
      () => parseImageProcessing({ ...BIT, crop_size: { height: 224, width: 200 } }, 'p', { patchSize: 14 }),
      /`crop_size` must be an integer or/,
    );
  });
});

describe('bicubic resize matrices (values checked against torch 1.13 interpolate in scripts/reference)', () => {
  test('same size is the identity; every row sums to 1', () => {
    for (const antialias of [false, true]) {
      const id = resizeMatrix(5, 5, antialias);
      for (let i = 0; i < 5; i++)
        for (let j = 0; j < 5; j++) assert.ok(Math.abs(id[i * 5 + j]! - (i === j ? 1 : 0)) < 1e-12);
      for (const [inSize, outSize] of [
        [37, 16],
        [4, 7],
        [4, 2],
      ] as const) {
        const m = resizeMatrix(inSize, outSize, antialias);
        for (let i = 0; i < outSize; i++) {
          let sum = 0;
          for (let j = 0; j < inSize; j++) sum += m[i * inSize + j]!;
          assert.ok(Math.abs(sum - 1) < 1e-12, `row ${i} of ${inSize}->${outSize} sums to ${sum}`);
        }
      }
    }
  });

  test('known values: 4 -> 2, plain (a = -0.75) and antialiased (a = -0.5, kernel widened by 2), as torch 1.13 gives them', () => {
    // Plain: source 0.5 -> taps -1..2 clamped, weights at t = 0.5: [-0.09375, 0.59375, 0.59375, -0.09375].
    assert.deepEqual(
      [...resizeMatrix(4, 2, false).subarray(0, 4)].map((v) => +v.toFixed(6)),
      [0.5, 0.59375, -0.09375, 0],
    );
    assert.deepEqual(
      [...resizeMatrix(4, 2, true).subarray(0, 4)].map((v) => +v.toFixed(6)),
      [0.458678, 0.458678, 0.119835, -0.03719],
    );
    const k = gridResizeMatrix(2, 2, 2, 2, false);
    assert.deepEqual([...k], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  });
});
