// `vembed embed`, `benchmark sop`, `benchmark compare`, `index build` and `search` as separate processes,
// on a tiny model and a tiny SOP-shaped folder made here; numbers checked against the library itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { readNpy } from '../../../src/shared/artifacts/npy';
import { readNeighbours } from '../../../src/shared/artifacts/neighboursFile';
import { evaluateRetrieval } from '../../../src/engine/retrieval/evaluate';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { TEST } from '../data/sopTree';
import { makeInferenceWork } from './fixtures';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
let work: string;
let sop: string;

function vembed(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: work, encoding: 'utf8', timeout: 120000 });
  const events = engineEvents(r.stdout);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, events };
}

const finished = (es: EngineEvent[]) =>
  es.find((e): e is Extract<EngineEvent, { type: 'finished' }> => e.type === 'finished');

let remove: () => void;

before(async () => {
  ({ work, sop, remove } = await makeInferenceWork('infer'));
});

after(() => remove());

test('embed writes [N, D] float32 in input order, from arguments and a list; the same image gives the same row', async () => {
  const jpg = path.join(work, 'photo.jpg');
  await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 30, b: 90 } } })
    .jpeg()
    .toFile(jpg);
  const list = path.join(work, 'list.txt');
  fs.writeFileSync(list, `# two images\n${path.join(sop, TEST[0]!.path)}\n\n${jpg}\n`);
  const r = vembed(['embed', '--model', 'model', '--out', 'e.npy', jpg, '--list', 'list.txt', '--batch_size', '2']);
  assert.equal(r.code, 0, r.stderr);
  const a = readNpy(path.join(work, 'e.npy'));
  assert.equal(a.dtype, '<f4');
  assert.deepEqual(a.shape, [3, 32]);
  const d = a.data as Float32Array;
  assert.ok(d.every(Number.isFinite));
  assert.deepEqual(d.slice(0, 32), d.slice(64, 96), 'row 0 and row 2 are the same file');
  assert.notDeepEqual(d.slice(0, 32), d.slice(32, 64));
});

test('embed: a corrupt image is reported by path; no images is a usage error', () => {
  fs.writeFileSync(path.join(work, 'broken.png'), 'not a png');
  const r = vembed(['embed', '--model', 'model', '--out', 'x.npy', 'broken.png']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /broken\.png/);
  assert.equal(fs.existsSync(path.join(work, 'x.npy')), false);
  assert.equal(vembed(['embed', '--model', 'model', '--out', 'x.npy']).code, 2);
});

test('benchmark sop: report, arrays, neighbours and index, equal to the protocol run on the written embeddings', async () => {
  const out = path.join(work, 'bench');
  const r = vembed(['benchmark', 'sop', '--model_path', 'model', '--sop_root', sop, '--output_dir', out, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(-1000));
  const report = JSON.parse(fs.readFileSync(path.join(out, 'sop_report.json'), 'utf8'));
  for (const k of ['recall@1', 'recall@10', 'recall@100', 'recall@1000', 'map@r', 'num_images', 'num_valid_queries'])
    assert.ok(k in report, k);
  assert.equal(report.num_images, TEST.length);
  assert.equal(report.num_valid_queries, TEST.length, 'every test product has 2+ images');
  // auto embeds with ONNX Runtime's CPU provider where onnxruntime-node loads (it is a dependency).
  assert.equal(report.backend, 'onnx-cpu');
  assert.match(String(report.device), /^ONNX Runtime \d+\.\d+ CPU \(\d+ threads?\)$/);
  const emb = readNpy(path.join(out, 'embeddings.npy'));
  assert.deepEqual(emb.shape, [TEST.length, 32]);
  const labels = readNpy(path.join(out, 'labels.npy'));
  assert.deepEqual(
    Array.from(labels.data as BigInt64Array, Number),
    TEST.map((t) => t.cls),
  );
  // Independent of the command: the same protocol on the written embeddings.
  await activateBackend('wasm');
  const again = await evaluateRetrieval(
    { data: emb.data as Float32Array, n: TEST.length, d: 32 },
    Int32Array.from(TEST, (t) => t.cls),
    { recallKs: [1, 10, 100, 1000] },
  );
  for (const [k, v] of Object.entries(again.metrics)) assert.equal(report[k], v, k);
  const nb = readNeighbours(out);
  assert.equal(nb.of(0).length, TEST.length - 1, 'K is capped by the gallery');
  const ev = finished(r.events)!;
  assert.equal(ev.status, 'completed');
  assert.equal(ev.outputs?.index, path.join(out, 'index'));
  assert.ok(fs.existsSync(path.join(out, 'index', 'index.json')));
});

test('benchmark compare prints the before/after table in points', () => {
  const a = path.join(work, 'before.json');
  const b = path.join(work, 'after.json');
  fs.writeFileSync(
    a,
    JSON.stringify({ 'recall@1': 0.5, 'recall@10': 0.7, 'map@r': 0.2, num_images: 10, num_valid_queries: 10 }),
  );
  fs.writeFileSync(
    b,
    JSON.stringify({ 'recall@1': 0.75, 'recall@10': 0.8, 'map@r': 0.3, num_images: 10, num_valid_queries: 10 }),
  );
  const r = vembed(['benchmark', 'compare', a, b]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Recall@1\s.*50\.00.*75\.00.*\+25\.00/);
});

test('search: the query image itself comes first from an index built from the same model', () => {
  const idx = path.join(work, 'idx');
  const built = vembed([
    'index',
    'build',
    '--model',
    'model',
    '--images',
    path.join(sop, 'Ebay_test.txt'),
    '--out',
    idx,
  ]);
  assert.equal(built.code, 0, built.stderr);
  const manifest = JSON.parse(fs.readFileSync(path.join(idx, 'index.json'), 'utf8'));
  assert.equal(manifest.count, TEST.length);
  assert.equal(manifest.normalised, true);
  const query = path.join(sop, TEST[2]!.path);
  const r = vembed(['search', '--index', idx, '--image', query, '--k', '3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const results = JSON.parse(fs.readFileSync(finished(r.events)!.outputs!.results!, 'utf8')) as {
    rank: number;
    score: number;
    path: string;
  }[];
  assert.equal(results.length, 3);
  assert.equal(results[0]!.path, query);
  assert.ok(Math.abs(results[0]!.score - 1) < 1e-5);
  assert.ok(results[0]!.score >= results[1]!.score && results[1]!.score >= results[2]!.score);
  const missing = vembed(['search', '--index', path.join(work, 'nope'), '--image', query]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not an index/);
});
