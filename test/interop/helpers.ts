/** Shared steps of the interop tests: run the built `vembed` CLI, read .npy embeddings, compare them. */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import assert from 'node:assert/strict';
import { readNpy } from '../../src/shared/artifacts/npy';

export const ROOT = path.resolve(__dirname, '..', '..');
export const PY = path.join(__dirname, 'py');
const bin = path.join(ROOT, 'bin', 'vembed.js');

export function assertBuilt(): void {
  assert.ok(fs.existsSync(path.join(ROOT, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
}

/** Runs `vembed ARGS` in `cwd` on the wasm backend; fails the test with its output when it exits non-zero. */
export function vembed(args: string[], cwd: string): string {
  const r = spawnSync(process.execPath, [bin, ...args, '--backend', 'wasm'], {
    cwd,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, VEMBED_THREADS: '1' },
  });
  assert.equal(r.status, 0, `vembed ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout.slice(-3000)}`);
  return r.stdout;
}

/** Rows of an [N, D] float32 .npy file. */
export function npyRows(file: string): Float32Array[] {
  const a = readNpy(file);
  assert.equal(a.shape.length, 2, `${file}: expected [N, D]`);
  const [n, d] = a.shape as [number, number];
  const data = a.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.subarray(i * d, (i + 1) * d));
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/** The worst row of two embedding files: smallest cosine and largest absolute difference. */
export function compareEmbeddings(fileA: string, fileB: string): { minCosine: number; maxAbs: number } {
  const a = npyRows(fileA);
  const b = npyRows(fileB);
  assert.equal(a.length, b.length, `${fileA} and ${fileB} hold different numbers of rows`);
  let minCosine = 1;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    assert.equal(a[i]!.length, b[i]!.length, 'embedding sizes differ');
    minCosine = Math.min(minCosine, cosine(a[i]!, b[i]!));
    for (let j = 0; j < a[i]!.length; j++) maxAbs = Math.max(maxAbs, Math.abs(a[i]![j]! - b[i]![j]!));
  }
  return { minCosine, maxAbs };
}
