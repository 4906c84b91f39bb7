/**
 * ONNX Runtime as the inference backend, through the built CLI: the same
 * embeddings as TF.js wasm (within 1e-4; measured ~5e-6 on models/vembed-tiny),
 * the run names it, and a provider that cannot run here is an error with
 * the reason, not a silent fallback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy } from '../../../src/shared/artifacts/npy';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { maxAbsDiff, tempDir } from '../model/helpers';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const images = fs
  .readdirSync(path.join(root, 'data/sample-sop/animals_final'))
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .slice(0, 40)
  .map((f) => path.join(root, 'data/sample-sop/animals_final', f));

function embed(backend: string, out: string) {
  const r = spawnSync(
    process.execPath,
    [
      bin,
      'embed',
      '--model',
      'models/vembed-tiny',
      '--out',
      out,
      '--backend',
      backend,
      '--threads',
      '2',
      '--json',
      ...images,
    ],
    { cwd: root, encoding: 'utf8', timeout: 120_000 },
  );
  const events = engineEvents(r.stdout);
  return {
    code: r.status,
    stderr: r.stderr,
    stdout: r.stdout,
    started: events.find((e): e is Extract<EngineEvent, { type: 'run_started' }> => e.type === 'run_started'),
    events,
  };
}

test('embed --backend onnx equals --backend wasm within 1e-4 and names ONNX Runtime as its device', () => {
  const dir = tempDir('onnx-backend');
  try {
    const ort = embed('onnx', path.join(dir, 'ort.npy'));
    assert.equal(ort.code, 0, ort.stderr + ort.stdout);
    assert.equal(ort.started?.backend, 'onnx-cpu');
    assert.match(ort.started?.device ?? '', /^ONNX Runtime 1\.30 CPU \(2 threads\)$/);
    const wasm = embed('wasm', path.join(dir, 'wasm.npy'));
    assert.equal(wasm.code, 0, wasm.stderr);
    assert.equal(wasm.started?.backend, 'wasm');
    const a = readNpy(path.join(dir, 'ort.npy'));
    const b = readNpy(path.join(dir, 'wasm.npy'));
    assert.deepEqual(a.shape, b.shape);
    const d = maxAbsDiff(a.data as Float32Array, b.data as Float32Array);
    assert.ok(d < 1e-4, `ONNX Runtime and wasm differ by ${d}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a provider that cannot run here fails with its reason; an unknown backend lists the ONNX ones', () => {
  const dir = tempDir('onnx-backend-bad');
  try {
    const webgpu = embed('onnx-webgpu', path.join(dir, 'w.npy'));
    if (webgpu.code !== 0) {
      assert.equal(fs.existsSync(path.join(dir, 'w.npy')), false);
      const error = webgpu.events.find((e) => e.type === 'error') as { message: string } | undefined;
      assert.match(error?.message ?? '', /ONNX Runtime \(onnx-webgpu\) could not run the model: .*adapter/i);
    }
    const bad = embed('onnx-tpu', path.join(dir, 'x.npy'));
    assert.equal(bad.code, 2);
    assert.match(bad.stdout + bad.stderr, /expected auto, onnx, onnx-cpu, onnx-webgpu, onnx-cuda, onnx-dml/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
