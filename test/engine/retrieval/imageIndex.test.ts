// Image index: build, load, search round trip; files readable as they are; damaged indexes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf } from '../../../src/engine/backend/tf';
import { readNpy } from '../../../src/shared/artifacts/npy';
import { buildIndex, buildIndexFromImages, loadIndex } from '../../../src/engine/retrieval/imageIndex';
import { normalise, seeded, tiedVectors } from './reference';

let dir: string;
before(async () => {
  await activateBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-index-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const d = 32;
const n = 40;
const data = tiedVectors(n, d, seeded(8)).map((v, i) => v * (1 + (Math.floor(i / d) % 4)));
const records = Array.from({ length: n }, (_, i) => ({
  path: `chair_final/${1000 + i}.JPG`,
  label: 11319 + Math.floor(i / 4),
  super_class: 'chair',
}));
const model = { name: 'facebook/dinov2-small', checkpoint: 'out/checkpoint-epoch-3' };

test('build writes normalised float32 embeddings, one metadata line per image, and the manifest', () => {
  const folder = path.join(dir, 'idx');
  const manifest = buildIndex(folder, { embeddings: { data, n, d }, records, model, imageRoot: '/data/sop' });
  assert.deepEqual(fs.readdirSync(folder).sort(), ['embeddings.npy', 'index.json', 'metadata.jsonl']);
  const onDisk = JSON.parse(fs.readFileSync(path.join(folder, 'index.json'), 'utf8'));
  assert.deepEqual(onDisk, manifest);
  assert.equal(onDisk.format, 'vembed-index');
  assert.equal(onDisk.dim, d);
  assert.equal(onDisk.count, n);
  assert.equal(onDisk.normalised, true);
  assert.equal(onDisk.metric, 'cosine');
  assert.deepEqual(onDisk.model, model);
  assert.ok(!Number.isNaN(Date.parse(onDisk.created)));
  const emb = readNpy(path.join(folder, 'embeddings.npy'));
  assert.equal(emb.dtype, '<f4');
  assert.deepEqual(emb.shape, [n, d]);
  assert.deepEqual(emb.data, normalise(data, n, d), 'rows are unit length: inner product = cosine');
  const lines = fs.readFileSync(path.join(folder, 'metadata.jsonl'), 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, n);
  assert.deepEqual(JSON.parse(lines[5]!), records[5]);
});

test('load and search: top-k by cosine with scores, query excluded on request, rebuilt in place', () => {
  const folder = path.join(dir, 'idx');
  const tensorsBefore = tf.memory().numTensors;
  const index = loadIndex(folder);
  assert.equal(index.count, n);
  assert.equal(index.imagePath(3), path.resolve('/data/sop/chair_final/1003.JPG'));
  const query = data.slice(7 * d, 8 * d).map((v) => v * 5);
  const [hits] = index.search({ data: query, n: 1, d }, { k: 4 });
  assert.equal(hits!.length, 4);
  assert.deepEqual(hits![0]!, { rank: 1, index: 7, score: 1, record: records[7] });
  // Reference: every row's cosine with the query, sorted, ties by lower index.
  const x = normalise(data, n, d);
  const sims = Array.from(
    { length: n },
    (_, j) => [x.subarray(j * d, (j + 1) * d).reduce((s, v, c) => s + v * x[7 * d + c]!, 0), j] as [number, number],
  ).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  assert.deepEqual(
    hits!.map((h) => [h.score, h.index]),
    sims.slice(0, 4),
  );
  const [without] = index.search({ data: query, n: 1, d }, { k: 3, excludeIndex: 7 });
  assert.deepEqual(
    without!.map((h) => h.index),
    sims.slice(1, 4).map(([, j]) => j),
  );
  assert.throws(
    () => index.search({ data: new Float32Array(8), n: 1, d: 8 }, { k: 1 }),
    /8 dimensions, the index 32: embed the query with the index's model \(facebook\/dinov2-small\)/,
  );

  index.dispose();
  assert.equal(tf.memory().numTensors, tensorsBefore, 'dispose frees the gallery kept between searches');

  // Rebuilding replaces the folder as a whole.
  buildIndex(folder, { embeddings: { data: data.slice(0, 4 * d), n: 4, d }, records: records.slice(0, 4), model });
  assert.equal(loadIndex(folder).count, 4);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f.includes('.tmp')),
    [],
  );
});

test("buildIndexFromImages embeds through the caller's embedder, with absolute paths", async () => {
  const seen: string[] = [];
  const embedder = async (paths: string[], onProgress?: (done: number, total: number) => void) => {
    seen.push(...paths);
    onProgress?.(paths.length, paths.length);
    return data.slice(0, paths.length * d);
  };
  const folder = path.join(dir, 'from-images');
  const manifest = await buildIndexFromImages(folder, {
    records: records.slice(0, 6),
    model,
    imageRoot: '/data/sop',
    embedder,
  });
  assert.equal(manifest.count, 6);
  assert.deepEqual(
    seen,
    records.slice(0, 6).map((r) => path.join('/data/sop', r.path)),
  );
  await assert.rejects(
    buildIndexFromImages(folder, { records: records.slice(0, 6), model, embedder: async () => new Float32Array(7) }),
    /returned 7 values for 6 images/,
  );
});

test('damaged or foreign folders: errors name the file and the fix', () => {
  assert.throws(
    () => loadIndex(path.join(dir, 'none')),
    /index\.json: not found; .* is not an index \(build one with `vembed index build`\)/,
  );
  const folder = path.join(dir, 'broken');
  buildIndex(folder, { embeddings: { data: data.slice(0, 3 * d), n: 3, d }, records: records.slice(0, 3), model });
  fs.appendFileSync(path.join(folder, 'metadata.jsonl'), '{"path": "extra.jpg"}\n');
  assert.throws(() => loadIndex(folder), /metadata\.jsonl: 4 records for 3 embeddings; rebuild the index/);
  fs.writeFileSync(path.join(folder, 'metadata.jsonl'), '{"path": "a.jpg"}\nnot json\n{"path": "c.jpg"}\n');
  assert.throws(() => loadIndex(folder), /metadata\.jsonl:2: not valid JSON/);
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'index.json'), 'utf8'));
  fs.writeFileSync(path.join(folder, 'index.json'), JSON.stringify({ ...manifest, dim: 16 }));
  assert.throws(
    () => loadIndex(folder),
    /embeddings\.npy: shape \(3, 32\) does not match index\.json \(count 3, dim 16\)/,
  );
  fs.writeFileSync(path.join(folder, 'index.json'), JSON.stringify({ ...manifest, format: 'faiss' }));
  assert.throws(() => loadIndex(folder), /"format" is "faiss", expected "vembed-index"/);
  assert.throws(
    () => buildIndex(folder, { embeddings: { data, n, d }, records: records.slice(0, 2), model }),
    /2 image records for 40 embeddings/,
  );
});
