/**
 * `vembed export onnx` as a user runs it (the built CLI in its own process),
 * the file checked by the real libraries in Python: `onnx.checker` (full
 * check), `onnxruntime` on the same preprocessed pixels that `vembed embed`
 * computes from the images, and transformers' own `Dinov2Model` /
 * `Dinov2WithRegistersModel` on a tiny model saved by transformers.
 *
 * Tolerance 1e-4 absolute on every embedding value (the models' outputs are
 * O(1); float32 sums in another order differ by ~1e-6).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadImageEncoder } from '../../../src/engine/model';
import { readNpy, writeNpy } from '../../../src/shared/artifacts/npy';
import { evalLoader } from '../../../src/engine/cli/commands/modelOptions';
import { runPython } from '../../helpers/python';
import { FIXTURES, tempDir, useWasm } from '../model/helpers';
import { toNchw } from './helpers';

const TOLERANCE = 1e-4;
const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const IMAGES = ['animals_final/154_1.jpg', 'animals_final/4_3.jpg', 'animals_final/149_0.jpg'].map((p) =>
  path.join(root, 'data/sample-sop', p),
);

function vembed(args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, VEMBED_THREADS: '1' },
  });
  assert.equal(r.status, 0, `vembed ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const ORT_CHECK = `
import sys, json, numpy as np, onnx, onnxruntime as ort
model, pixels, expected = sys.argv[1:4]
m = onnx.load(model)
onnx.checker.check_model(m, full_check=True)
s = ort.InferenceSession(model, providers=['CPUExecutionProvider'])
x = np.load(pixels)
(y,) = s.run(['embedding'], {'pixel_values': x})
e = np.load(expected)
print(json.dumps({'opset': m.opset_import[0].version, 'input': [str(d) for d in s.get_inputs()[0].shape], 'shape': list(y.shape), 'diff': float(np.abs(y - e).max())}))
`;

before(async () => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
  await useWasm();
});

describe("vembed export onnx: the file runs in Python onnxruntime and gives vembed embed's numbers", () => {
  const dir = tempDir('export-onnx');
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // The adapter fixture names a hub id as its base; a copy names the local base model instead.
  const lora = path.join(dir, 'plain-lora');
  fs.mkdirSync(lora);
  for (const f of fs.readdirSync(path.join(FIXTURES, 'plain-lora')))
    fs.copyFileSync(path.join(FIXTURES, 'plain-lora', f), path.join(lora, f));
  const adapterConfig = JSON.parse(fs.readFileSync(path.join(lora, 'adapter_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  fs.writeFileSync(
    path.join(lora, 'adapter_config.json'),
    JSON.stringify({ ...adapterConfig, base_model_name_or_path: path.join(FIXTURES, 'plain') }),
  );

  const cases = [
    { name: 'plain, native 56 px', model: path.join(FIXTURES, 'plain'), size: 56, pool: 'cls' },
    { name: 'plain, resized to 84 px, mean pooling', model: path.join(FIXTURES, 'plain'), size: 84, pool: 'mean' },
    { name: 'SwiGLU, native 56 px', model: path.join(FIXTURES, 'swiglu'), size: 56, pool: 'cls' },
    { name: 'SwiGLU, resized to 42 px', model: path.join(FIXTURES, 'swiglu'), size: 42, pool: 'cls' },
    { name: 'registers, native 56 px', model: path.join(FIXTURES, 'registers'), size: 56, pool: 'cls' },
    {
      name: 'registers, resized to 70 px, mean pooling',
      model: path.join(FIXTURES, 'registers'),
      size: 70,
      pool: 'mean',
    },
    { name: 'LoRA adapter, native 56 px', model: lora, size: 56, pool: 'cls' },
    { name: 'LoRA adapter, resized to 70 px', model: lora, size: 70, pool: 'cls' },
  ];
  cases.forEach((c, i) => {
    test(`${c.name}: within ${TOLERANCE} of vembed embed`, async () => {
      const onnxFile = path.join(dir, `m${i}.onnx`);
      const embedFile = path.join(dir, `e${i}.npy`);
      const pixelFile = path.join(dir, `p${i}.npy`);
      vembed(['export', 'onnx', '--model', c.model, '--out', onnxFile, '--size', String(c.size), '--pool', c.pool]);
      vembed([
        'embed',
        '--model',
        c.model,
        '--out',
        embedFile,
        '--image_size',
        String(c.size),
        '--pool',
        c.pool,
        '--num_workers',
        '0',
        '--backend',
        'wasm',
        ...IMAGES,
      ]);
      // The pixels `vembed embed` fed its model, NCHW, for Python.
      const encoder = await loadImageEncoder(c.model === lora ? path.join(FIXTURES, 'plain') : c.model, {
        imageSize: c.size,
      });
      const loader = evalLoader(encoder.processing, 0);
      try {
        const px = await loader.load(IMAGES.map((p) => ({ path: p, transform: { kind: 'eval' as const } })));
        writeNpy(pixelFile, {
          dtype: '<f4',
          shape: [px.n, 3, px.height, px.width],
          data: toNchw(px.data, [px.n, px.height, px.width, 3]),
        });
      } finally {
        await loader.close();
        encoder.dispose();
      }
      const r = JSON.parse(runPython(['-c', ORT_CHECK, onnxFile, pixelFile, embedFile])) as {
        opset: number;
        input: string[];
        shape: number[];
        diff: number;
      };
      assert.equal(r.opset, 17);
      assert.deepEqual(r.input, ['batch', '3', String(c.size), String(c.size)]);
      assert.deepEqual(r.shape, [IMAGES.length, readNpy(embedFile).shape[1]]);
      assert.ok(r.diff < TOLERANCE, `${c.name}: differs by ${r.diff}`);
    });
  });

  test('--external_data: weights in FILE.onnx.<id>.data (ONNX external data, as models over 2 GB need); onnx.checker passes and onnxruntime gives the same embeddings', () => {
    const inline = path.join(dir, 'inline.onnx');
    const external = path.join(dir, 'external.onnx');
    vembed(['export', 'onnx', '--model', path.join(FIXTURES, 'registers'), '--out', inline, '--size', '70']);
    vembed([
      'export',
      'onnx',
      '--model',
      path.join(FIXTURES, 'registers'),
      '--out',
      external,
      '--size',
      '70',
      '--external_data',
    ]);
    // A new data file name per export (onnx/exportFiles.ts), the one the .onnx records.
    assert.equal(fs.readdirSync(dir).filter((n) => /^external\.onnx\.[0-9a-f]{8}\.data$/.test(n)).length, 1);
    assert.ok(fs.statSync(external).size < fs.statSync(inline).size / 4, 'the weights left the model file');
    const r = JSON.parse(
      runPython([
        '-c',
        `
import sys, json, numpy as np, onnx, onnxruntime as ort
onnx.checker.check_model(sys.argv[2], full_check=True)
m = onnx.load(sys.argv[2], load_external_data=False)
x = np.random.default_rng(0).random((2, 3, 70, 70), dtype=np.float32)
a = ort.InferenceSession(sys.argv[1]).run(['embedding'], {'pixel_values': x})[0]
b = ort.InferenceSession(sys.argv[2]).run(['embedding'], {'pixel_values': x})[0]
print(json.dumps({'external': sum(1 for t in m.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL), 'diff': float(np.abs(a - b).max())}))
`,
        inline,
        external,
      ]),
    ) as { external: number; diff: number };
    assert.ok(r.external > 0);
    assert.equal(r.diff, 0);
  });

  test('bad input: --size off the patch grid and a non-.onnx --out are refused, naming the value and what to do', () => {
    const run = (args: string[]) =>
      spawnSync(process.execPath, [bin, 'export', 'onnx', '--model', path.join(FIXTURES, 'plain'), ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 120_000,
      });
    const size = run(['--out', path.join(dir, 'bad.onnx'), '--size', '50']);
    assert.equal(size.status, 1);
    assert.match(size.stderr, /--size 50 is not a multiple of the model's patch size 14/);
    assert.match(size.stderr, /Try --size 56/);
    assert.equal(fs.existsSync(path.join(dir, 'bad.onnx')), false);
    const out = run(['--out', path.join(dir, 'model.bin')]);
    assert.equal(out.status, 2);
    assert.match(out.stderr, /--out must name a \.onnx file/);
  });

  test("equals transformers' Dinov2Model / Dinov2WithRegistersModel (pooler_output) on tiny models saved by transformers", () => {
    const made = path.join(dir, 'hf');
    runPython([
      '-c',
      `
import sys, torch
from transformers import Dinov2Config, Dinov2Model, Dinov2WithRegistersConfig, Dinov2WithRegistersModel
torch.manual_seed(0)
common = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=192, image_size=56, patch_size=14, layerscale_value=0.5)
Dinov2Model(Dinov2Config(**common)).save_pretrained(sys.argv[1] + '/plain')
Dinov2Model(Dinov2Config(**common, use_swiglu_ffn=True)).save_pretrained(sys.argv[1] + '/swiglu')
Dinov2WithRegistersModel(Dinov2WithRegistersConfig(**common, num_register_tokens=4)).save_pretrained(sys.argv[1] + '/registers')
`,
      made,
    ]);
    for (const variant of ['plain', 'swiglu', 'registers']) {
      for (const size of [56, 84]) {
        const onnxFile = path.join(dir, `hf-${variant}-${size}.onnx`);
        vembed(['export', 'onnx', '--model', path.join(made, variant), '--out', onnxFile, '--size', String(size)]);
        const diff = Number(
          runPython([
            '-c',
            `
import sys, numpy as np, torch, onnxruntime as ort
from transformers import AutoModel
model = AutoModel.from_pretrained(sys.argv[1]).eval()
x = torch.randn(2, 3, int(sys.argv[3]), int(sys.argv[3]), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    ref = model(pixel_values=x).pooler_output.numpy()
(y,) = ort.InferenceSession(sys.argv[2]).run(['embedding'], {'pixel_values': x.numpy()})
print(float(np.abs(y - ref).max()))
`,
            path.join(made, variant),
            onnxFile,
            String(size),
          ]).trim(),
        );
        assert.ok(diff < TOLERANCE, `${variant} at ${size} px: differs from transformers by ${diff}`);
      }
    }
  });
});
