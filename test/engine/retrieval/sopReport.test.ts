// The benchmark's output folder: report, Markdown, embeddings, labels, metadata, neighbours.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { readNpy } from '../../../src/shared/artifacts/npy';
import { readNeighbours } from '../../../src/shared/artifacts/neighboursFile';
import { runSopBenchmark } from '../../../src/engine/retrieval/sopBenchmark';
import { readMetadata } from '../../../src/shared/artifacts/metadataFile';
import { readReport } from '../../../src/shared/artifacts/reportFile';

let dir: string;
before(async () => {
  await activateBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-sop-out-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Same geometry as the hand-built case of evaluate.test.ts, at different scales (the files keep raw embeddings).
const RAW = [
  [2, 0, 0, 0],
  [3, 0, 0, 0],
  [1, 0, 0, 0],
  [0, 5, 0, 0],
  [1, 1, 1, 1],
  [0, 0, 0.5, 0],
];
const IMAGES = [
  { path: 'chair_final/a_0.JPG', label: 11319, superClass: 'chair' },
  { path: 'chair_final/b_0.JPG', label: 11320 },
  { path: 'chair_final/a_1.JPG', label: 11319 },
  { path: 'chair_final/b_1.JPG', label: 11320 },
  { path: 'lamp_final/c_0.JPG', label: 11321 },
  { path: 'chair_final/a_2.JPG', label: 11319 },
];

test('runSopBenchmark embeds in list order and writes every output', async () => {
  const seen: string[] = [];
  const embedder = async (paths: string[], onProgress?: (done: number, total: number) => void) => {
    seen.push(...paths);
    onProgress?.(paths.length, paths.length);
    return Float32Array.from(RAW.flat());
  };
  const out = path.join(dir, 'run');
  const { evaluation, files } = await runSopBenchmark({
    images: IMAGES,
    imageRoot: '/data/Stanford_Online_Products',
    embedder,
    outDir: out,
    run: {
      model: 'facebook/dinov2-small',
      backend: 'wasm',
      device: 'WebAssembly (1 thread, SIMD)',
      timing: { model_load_seconds: 1.5 },
    },
    evaluate: { neighbours: 3 },
  });
  assert.deepEqual(
    seen,
    IMAGES.map((im) => path.join('/data/Stanford_Online_Products', im.path)),
  );
  assert.deepEqual(fs.readdirSync(out).sort(), [
    'embedding_map.json',
    'embeddings.npy',
    'first_correct_rank.npy',
    'labels.npy',
    'metadata.jsonl',
    'neighbours.json',
    'neighbours_indices.npy',
    'neighbours_same_class.npy',
    'neighbours_scores.npy',
    'sop_report.json',
    'sop_report.md',
  ]);

  const report = JSON.parse(fs.readFileSync(files.report, 'utf8'));
  assert.deepEqual(Object.keys(report).slice(0, 8), [
    'recall@1',
    'recall@10',
    'recall@100',
    'recall@1000',
    'map@r',
    'num_images',
    'num_valid_queries',
    'num_classes',
  ]);
  assert.equal(report['recall@1'], 0.2);
  assert.equal(report['recall@10'], 1);
  assert.equal(report['map@r'], 0.2);
  assert.equal(report.num_images, 6);
  assert.equal(report.num_valid_queries, 5);
  assert.equal(report.model, 'facebook/dinov2-small');
  assert.equal(report.backend, 'wasm');
  assert.equal(report.device, 'WebAssembly (1 thread, SIMD)');
  assert.equal(report.timing.model_load_seconds, 1.5);
  assert.equal(typeof report.timing.embedding_seconds, 'number');
  assert.equal(typeof report.timing.search_seconds, 'number');
  assert.deepEqual(report.protocol.recall_k_clipped_to_gallery, [10, 100, 1000]);
  assert.equal(report.image_root, '/data/Stanford_Online_Products');
  // The compare command reads it back.
  assert.equal(readReport(files.report).metrics['recall@1'], 20);

  const md = fs.readFileSync(files.markdown, 'utf8');
  assert.match(md, /^# SOP benchmark: facebook\/dinov2-small$/m);
  assert.match(md, /^\| Recall@1 \| 20\.00% \|$/m);
  assert.match(md, /^\| MAP@R \| 20\.00% \|$/m);
  assert.match(md, /6 images in 3 classes; 5 valid queries/);
  assert.match(md, /Recall@10, @100, @1000: K exceeds the gallery/);

  const emb = readNpy(files.embeddings);
  assert.equal(emb.dtype, '<f4');
  assert.deepEqual(emb.shape, [6, 4]);
  assert.deepEqual(Array.from(emb.data as Float32Array), RAW.flat(), 'raw, not normalised');
  const labels = readNpy(files.labels);
  assert.equal(labels.dtype, '<i8');
  assert.deepEqual(
    Array.from(labels.data as BigInt64Array, Number),
    IMAGES.map((im) => im.label),
  );
  assert.deepEqual(
    readMetadata(files.metadata!),
    IMAGES.map(({ superClass, ...im }) => (superClass ? { ...im, super_class: superClass } : im)),
  );

  const nb = readNeighbours(out);
  assert.equal(nb.k, 3);
  assert.equal(nb.numQueries, 6);
  assert.equal(nb.rankCap, 1000);
  assert.equal(nb.manifest.metadata, 'metadata.jsonl');
  assert.equal(nb.manifest.image_root, '/data/Stanford_Online_Products');
  assert.deepEqual(Array.from(nb.firstCorrectRank), [2, 4, 1, 3, -1, 2]);
  assert.deepEqual(nb.of(0), [
    { rank: 1, index: 1, score: 1, sameClass: false },
    { rank: 2, index: 2, score: 1, sameClass: true },
    { rank: 3, index: 4, score: 0.5, sameClass: false },
  ]);
  assert.deepEqual(Array.from(nb.indices), Array.from(evaluation.neighbours.indices));
  assert.throws(() => nb.of(6), /query 6 is out of range \(0\.\.5\)/);
  assert.deepEqual(
    fs.readdirSync(out).filter((f) => f.includes('.tmp')),
    [],
  );
});

test('neighbours reader: clear errors for a missing or foreign manifest and a wrong array', async () => {
  assert.throws(
    () => readNeighbours(path.join(dir, 'nothing')),
    /neighbours\.json: not found; run the benchmark first/,
  );
  const out = path.join(dir, 'run');
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'neighbours.json'), 'utf8'));
  fs.writeFileSync(path.join(out, 'neighbours.json'), JSON.stringify({ ...manifest, k: 4 }));
  assert.throws(() => readNeighbours(out), /neighbours_indices\.npy: expected shape \(6, 4\), found \(6, 3\)/);
  fs.writeFileSync(path.join(out, 'neighbours.json'), JSON.stringify({ ...manifest, format: 'other' }));
  assert.throws(() => readNeighbours(out), /not a neighbours manifest/);
});

test('bad embedder output is refused before anything is written', async () => {
  const out = path.join(dir, 'bad');
  await assert.rejects(
    runSopBenchmark({
      images: IMAGES,
      imageRoot: '/x',
      embedder: async () => new Float32Array(10),
      outDir: out,
      run: { model: 'm', backend: 'wasm' },
    }),
    /returned 10 values for 6 images/,
  );
  assert.equal(fs.existsSync(out), false);
});
