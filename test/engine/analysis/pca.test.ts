// The embeddings map's projection: deterministic for a seed, equal (up to each axis's sign) to PCA computed
// independently by NumPy (eigh of np.cov), written and read back as embedding_map.json; timed at SOP's size.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pca } from '../../../src/engine/analysis/pca';
import { readBenchmarkEmbeddings, writeEmbeddingMap } from '../../../src/engine/analysis/embeddingMap';
import { writeNpy } from '../../../src/shared/artifacts/npy';
import { Rng } from '../../../src/engine/util/rng';
import { EMBEDDING_MAP_FILE, parseEmbeddingMap } from '../../../src/shared/artifacts/embeddingMap';
import { benchmarkMapCommand } from '../../../src/engine/cli/commands/benchmarkMap';
import { StreamReporter } from '../../../src/engine/cli/reporter';
import { UserError } from '../../../src/shared/userError';
import type { EmbeddingMatrix } from '../../../src/engine/retrieval/embeddings';
import { runPython } from '../../helpers/python';

let dir: string;
before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-pca-'))));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Clusters around random centres with one dominant and one secondary direction: a spectrum like real embeddings'. */
function clustered(n: number, d: number, seed: number): EmbeddingMatrix {
  const rng = new Rng(seed);
  const centres = Array.from({ length: 12 }, () => Float64Array.from({ length: d }, () => rng.next() * 2 - 1));
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[rng.int(centres.length)]!;
    for (let j = 0; j < d; j++) data[i * d + j] = c[j]! + (rng.next() - 0.5) * 0.8 + (j % 5 === 0 ? 0.3 : 0);
  }
  return { data, n, d };
}

// NumPy's PCA of the same file: rows L2-normalised, centred, eigh of the covariance, top two axes.
const NUMPY_PCA = `
import sys, json, numpy as np
x = np.load(sys.argv[1]).astype(np.float64)
x = x / np.linalg.norm(x, axis=1, keepdims=True)
x = x - x.mean(axis=0)
w, v = np.linalg.eigh(np.cov(x, rowvar=False))
order = np.argsort(w)[::-1]
top = v[:, order[:2]]
p = x @ top
print(json.dumps({"x": p[:, 0].tolist(), "y": p[:, 1].tolist(), "ratio": (w[order[:2]] / w.sum()).tolist()}))
`;

for (const [n, d] of [
  [1500, 67],
  [2000, 384],
] as const) {
  test(`PCA of ${n} x ${d} equals NumPy's (eigh of the covariance) up to sign, within 1e-6`, () => {
    const emb = clustered(n, d, d);
    const file = path.join(dir, `emb-${d}.npy`);
    writeNpy(file, { dtype: '<f4', shape: [n, d], data: emb.data });
    const ref = JSON.parse(runPython(['-c', NUMPY_PCA, file])) as { x: number[]; y: number[]; ratio: number[] };
    const ours = pca(emb, { seed: 3 });
    assert.ok(ours.converged, `power iteration converged (${ours.iterations} iterations)`);
    for (const [axis, refAxis] of [
      [0, ref.x],
      [1, ref.y],
    ] as const) {
      // An eigenvector's sign is arbitrary: match it on the largest reference value.
      let big = 0;
      for (let i = 1; i < n; i++) if (Math.abs(refAxis[i]!) > Math.abs(refAxis[big]!)) big = i;
      const sign = Math.sign(ours.coordinates[2 * big + axis]!) === Math.sign(refAxis[big]!) ? 1 : -1;
      let worst = 0;
      for (let i = 0; i < n; i++)
        worst = Math.max(worst, Math.abs(sign * ours.coordinates[2 * i + axis]! - refAxis[i]!));
      // float32 output of values near 1: 1e-6 is a few float32 ulps.
      assert.ok(worst < 1e-6, `axis ${axis}: largest difference ${worst}`);
    }
    assert.ok(Math.abs(ours.varianceRatio[0]! - ref.ratio[0]!) < 1e-9);
    assert.ok(Math.abs(ours.varianceRatio[1]! - ref.ratio[1]!) < 1e-9);
  });
}

test('the same seed gives bit-identical maps; another seed the same map within 1e-6; signs fixed', () => {
  const emb = clustered(3000, 96, 7);
  const a = pca(emb, { seed: 11 });
  const b = pca(emb, { seed: 11 });
  assert.deepEqual(Buffer.from(a.coordinates.buffer), Buffer.from(b.coordinates.buffer));
  const c = pca(emb, { seed: 12345 });
  let worst = 0;
  for (let i = 0; i < a.coordinates.length; i++)
    worst = Math.max(worst, Math.abs(a.coordinates[i]! - c.coordinates[i]!));
  assert.ok(worst < 1e-6, `seeds 11 and 12345 differ by ${worst}`);
  // The sign rule: each axis's largest-magnitude coefficient is positive.
  for (let k = 0; k < 2; k++) {
    const axis = a.axes.subarray(k * 96, (k + 1) * 96);
    const big = axis.reduce((m, v) => (Math.abs(v) > Math.abs(m) ? v : m), 0);
    assert.ok(big > 0);
  }
});

test('embedding_map.json: written next to embeddings.npy and read back by the shared parser', () => {
  const emb = clustered(500, 32, 2);
  const folder = path.join(dir, 'bench');
  fs.mkdirSync(folder);
  writeNpy(path.join(folder, 'embeddings.npy'), { dtype: '<f4', shape: [500, 32], data: emb.data });
  const { file, map } = writeEmbeddingMap(folder, readBenchmarkEmbeddings(folder), 5);
  const back = parseEmbeddingMap(fs.readFileSync(file, 'utf8'), file);
  assert.equal(back.numPoints, 500);
  assert.equal(back.seed, 5);
  assert.equal(back.method, 'pca');
  assert.ok(back.seconds >= 0 && back.seconds === map.seconds);
  const direct = pca(emb, { seed: 5 });
  for (let i = 0; i < 500; i++) {
    assert.ok(Math.abs(back.x[i]! - direct.coordinates[2 * i]!) <= 1e-6);
    assert.ok(Math.abs(back.y[i]! - direct.coordinates[2 * i + 1]!) <= 1e-6);
  }
  assert.throws(() => parseEmbeddingMap('{"format":"other"}', 'f.json'), /not an embedding map/);
  assert.throws(
    () => parseEmbeddingMap(JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), x: [1] }), 'f.json'),
    /"x" must hold num_points \(500\) numbers, found 1/,
  );
});

test("SOP's size: 60,502 x 384 projected (time printed)", () => {
  const emb = clustered(60_502, 384, 1);
  const t0 = performance.now();
  const r = pca(emb, { seed: 0 });
  const seconds = (performance.now() - t0) / 1000;
  console.log(`# PCA of 60,502 x 384: ${seconds.toFixed(2)} s, ${r.iterations} power iterations`);
  assert.ok(r.converged);
  // A generous bound for a loaded two-core machine; an idle core takes about 3 s.
  assert.ok(seconds < 30, `${seconds} s`);
});

test("vembed benchmark map: (re)writes each folder's map and says how long it took; a folder without embeddings is refused", async () => {
  const folder = path.join(dir, 'cli');
  fs.mkdirSync(folder);
  const emb = clustered(300, 24, 9);
  writeNpy(path.join(folder, 'embeddings.npy'), { dtype: '<f4', shape: [300, 24], data: emb.data });
  let out = '';
  const reporter = new StreamReporter(
    false,
    (s) => (out += s),
    () => {},
  );
  const ctx = (positionals: string[]) => ({
    args: { options: { seed: 4 }, positionals },
    reporter,
    signal: new AbortController().signal,
  });
  assert.equal(await benchmarkMapCommand.run(ctx([folder])), 0);
  assert.match(
    out,
    /embedding_map\.json: PCA of 300 x 24 in \d+\.\d\d s; axes hold \d+\.\d% and \d+\.\d% of the variance/,
  );
  const map = JSON.parse(fs.readFileSync(path.join(folder, EMBEDDING_MAP_FILE), 'utf8'));
  assert.equal(map.seed, 4);
  assert.equal(map.converged, true);
  await assert.rejects(
    benchmarkMapCommand.run(ctx([dir])),
    (e: unknown) => e instanceof UserError && /holds no embeddings\.npy/.test(e.message),
  );
});
