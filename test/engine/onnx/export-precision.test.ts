/**
 * `vembed export onnx --precision fp16|int8`: the files run in ONNX Runtime
 * (onnxruntime-node here, Python onnxruntime in the reference environment,
 * after onnx.checker's full check), their embeddings of the sample's images
 * stay close to fp32's, and they are smaller. The model is models/vembed-tiny
 * (trained weights, DINOv2's architecture).
 *
 * Bounds (cosine of each image's embedding to fp32's): fp16 >= 0.9999 (float16
 * keeps 11 significant bits; measured 0.99999+), int8 >= 0.99 (measured
 * min 0.996 on these images; ONNX Runtime's own quantize_dynamic measured
 * 0.998 on DINOv2-small geometry). Sizes: fp16 <= 0.51 of fp32, int8 <= 0.35
 * (the patch Conv, the position table and norms stay float32).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadImageEncoder } from '../../../src/engine/model';
import { readNpy, writeNpy } from '../../../src/shared/artifacts/npy';
import { evalLoader } from '../../../src/engine/cli/commands/modelOptions';
import { rowCosines } from '../../../src/engine/retrieval/embeddings';
import { requireOnnxRuntime } from '../../../src/engine/onnx/runtime';
import { float16Bits, quantizePerColumn } from '../../../src/engine/onnx/precision';
import { runPython } from '../../helpers/python';
import { tempDir, useWasm } from '../model/helpers';
import { toNchw } from './helpers';
import { makeSopTree } from '../data/sopTree';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const MODEL = path.join(root, 'models/vembed-tiny');
const SAMPLE = path.join(root, 'data/sample-sop');
const BOUND = { fp16: 0.9999, int8: 0.99 } as const;
const SIZE_RATIO = { fp16: 0.51, int8: 0.35 } as const;

function vembed(args: string[]): void {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `vembed ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
}

test('float16 bits: exact values, rounding to nearest even, subnormals, overflow', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [1 / 3, 0x3555],
    [65504, 0x7bff],
    [65519, 0x7bff], // below the halfway point to 65536
    [65520, 0x7c00], // halfway: rounds to even, which is infinity
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to 0: ties to even
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 units: to even
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next: to even (1)
    [1 + 3 * 2 ** -11, 0x3c02],
    [1e-9, 0x0000],
  ];
  for (const [x, bits] of cases) assert.equal(float16Bits(x), bits, `${x}`);
  assert.equal(float16Bits(NaN) & 0x7c00, 0x7c00);
  assert.notEqual(float16Bits(NaN) & 0x3ff, 0);
});

test('per-column int8 quantization: symmetric, within half a step of every weight', () => {
  const k = 5;
  const n = 3;
  const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i * 1.7) * (1 + (i % n)));
  w[2] = 0; // a column may hold zeros
  const { q, scale } = quantizePerColumn(w, k, n);
  for (let c = 0; c < n; c++) {
    let max = 0;
    for (let r = 0; r < k; r++) max = Math.max(max, Math.abs(w[r * n + c]!));
    assert.ok(Math.abs(scale[c]! - max / 127) < 1e-9);
    for (let r = 0; r < k; r++) assert.ok(Math.abs(q[r * n + c]! * scale[c]! - w[r * n + c]!) <= scale[c]! / 2 + 1e-7);
  }
  assert.ok([...q].every((v) => v >= -127 && v <= 127));
});

let dir: string;
let pixelsFile: string;
let pixels: { data: Float32Array; dims: number[] };
const files: Record<string, string> = {};

before(async () => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
  dir = tempDir('export-precision');
  for (const p of ['fp32', 'fp16', 'int8']) {
    files[p] = path.join(dir, `${p}.onnx`);
    vembed(['export', 'onnx', '--model', MODEL, '--out', files[p]!, '--precision', p]);
  }
  // The preprocessed pixels of 12 sample images (two of each of six products), NCHW.
  const images = fs
    .readFileSync(path.join(SAMPLE, 'Ebay_test.txt'), 'utf8')
    .trim()
    .split('\n')
    .slice(1, 13)
    .map((l) => path.join(SAMPLE, l.trim().split(/\s+/)[3]!));
  await useWasm();
  const encoder = await loadImageEncoder(MODEL);
  const loader = evalLoader(encoder.processing, 0);
  try {
    const px = await loader.load(images.map((p) => ({ path: p, transform: { kind: 'eval' as const } })));
    pixels = { data: toNchw(px.data, [px.n, px.height, px.width, 3]), dims: [px.n, 3, px.height, px.width] };
  } finally {
    await loader.close();
    encoder.dispose();
  }
  pixelsFile = path.join(dir, 'pixels.npy');
  writeNpy(pixelsFile, { dtype: '<f4', shape: pixels.dims, data: pixels.data });
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const cosines = (a: Float32Array, b: Float32Array, n: number) => rowCosines(a, b, a.length / n);

test('file sizes: fp16 about half of fp32, int8 about a quarter', () => {
  const size = (p: string) => fs.statSync(files[p]!).size;
  for (const p of ['fp16', 'int8'] as const)
    assert.ok(size(p) <= SIZE_RATIO[p] * size('fp32'), `${p}: ${size(p)} bytes vs fp32 ${size('fp32')}`);
  assert.ok(size('int8') >= 0.2 * size('fp32'), 'int8 keeps its scales and float parts');
});

test('onnxruntime-node (CPU) runs every precision; float32 in and out; cosine to fp32 above the bound', async () => {
  const ort = requireOnnxRuntime();
  const out: Record<string, Float32Array> = {};
  for (const p of ['fp32', 'fp16', 'int8']) {
    const session = await ort.InferenceSession.create(files[p]!, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const r = await session.run({ pixel_values: new ort.Tensor('float32', pixels.data, pixels.dims) });
    assert.equal(r.embedding!.type, 'float32');
    assert.deepEqual(r.embedding!.dims, [12, 192]);
    out[p] = r.embedding!.data as Float32Array;
    await session.release();
  }
  for (const p of ['fp16', 'int8'] as const) {
    const c = cosines(out.fp32!, out[p]!, 12);
    assert.ok(Math.min(...c) >= BOUND[p], `${p}: min cosine ${Math.min(...c)}`);
  }
  // int8 is not fp32 under another name.
  assert.ok(Math.min(...cosines(out.fp32!, out.int8!, 12)) < 0.99999);
});

const PY_CHECK = `
import sys, json, numpy as np, onnx, onnxruntime as ort
pixels = np.load(sys.argv[1])
out = {}
for f in sys.argv[2:]:
    onnx.checker.check_model(onnx.load(f), full_check=True)
    s = ort.InferenceSession(f, providers=['CPUExecutionProvider'])
    (y,) = s.run(['embedding'], {'pixel_values': pixels})
    out[f] = {'dtype': str(y.dtype), 'shape': list(y.shape), 'y': y.tolist()}
ref = np.array(out[sys.argv[2]]['y'])
cos = {}
for f, o in out.items():
    y = np.array(o['y'])
    cos[f] = float(np.min(np.sum(ref * y, 1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(y, axis=1)))
print(json.dumps({'cos': cos, 'dtypes': {f: o['dtype'] for f, o in out.items()}}))
`;

test('Python onnxruntime runs the fp16 and int8 files after onnx.checker; cosine to fp32 above the bound', () => {
  const r = JSON.parse(runPython(['-c', PY_CHECK, pixelsFile, files.fp32!, files.fp16!, files.int8!])) as {
    cos: Record<string, number>;
    dtypes: Record<string, string>;
  };
  for (const p of ['fp16', 'int8'] as const) {
    assert.equal(r.dtypes[files[p]!], 'float32');
    assert.ok(r.cos[files[p]!]! >= BOUND[p], `${p}: ${r.cos[files[p]!]}`);
  }
});

test('float16 conversion equals NumPy on 20,000 values across the range', () => {
  const xs = Float32Array.from({ length: 20000 }, (_, i) => {
    const e = (i % 60) - 30; // 2^-30 .. 2^29: subnormals, normals, overflow
    return (i % 2 ? -1 : 1) * Math.abs(Math.sin(i * 12.9898)) * 2 ** e;
  });
  const f = path.join(dir, 'xs.npy');
  writeNpy(f, { dtype: '<f4', shape: [xs.length], data: xs });
  const bits = JSON.parse(
    runPython([
      '-c',
      'import sys, json, numpy as np; print(json.dumps(np.load(sys.argv[1]).astype(np.float16).view(np.uint16).tolist()))',
      f,
    ]),
  ) as number[];
  const mismatches = [...xs].map((x, i) => [x, float16Bits(x), bits[i]]).filter(([, a, b]) => a !== b);
  assert.deepEqual(mismatches.slice(0, 5), []);
});

test('benchmark sop --onnx embeds with the exported file: fp32 equals the engine, int8 is close', async () => {
  const sop = await makeSopTree();
  try {
    const bench = (name: string, extra: string[]) => {
      const out = path.join(dir, name);
      vembed(['benchmark', 'sop', '--model_path', MODEL, '--sop_root', sop, '--output_dir', out, ...extra]);
      return {
        report: JSON.parse(fs.readFileSync(path.join(out, 'sop_report.json'), 'utf8')) as { model: string },
        e: readNpy(path.join(out, 'embeddings.npy')),
      };
    };
    const engine = bench('bench-engine', []);
    const fp32 = bench('bench-fp32', ['--onnx', files.fp32!]);
    const int8 = bench('bench-int8', ['--onnx', files.int8!]);
    assert.match(fp32.report.model, /exported as .*fp32\.onnx$/);
    const n = engine.e.shape[0]!;
    const a = engine.e.data as Float32Array;
    // The engine's graph takes NHWC and the file NCHW: the same maths, sums in another order.
    assert.ok(Math.min(...cosines(a, fp32.e.data as Float32Array, n)) > 0.99999);
    const c8 = cosines(a, int8.e.data as Float32Array, n);
    assert.ok(Math.min(...c8) >= BOUND.int8 && Math.min(...c8) < 0.99999, `int8: ${Math.min(...c8)}`);
  } finally {
    fs.rmSync(sop, { recursive: true, force: true });
  }
});
