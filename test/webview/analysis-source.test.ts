// The extension's half of the Map and errors tab: which benchmark is "before", what happens when it lists other
// images or lacks its map, and the analysis it sends (computed from both neighbours files).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../src/engine/backend/ladder';
import { runSopBenchmark, type BenchmarkImage } from '../../src/engine/retrieval/sopBenchmark';
import { analyseBenchmarks } from '../../src/engine/analysis/errorReport';
import { Rng } from '../../src/engine/util/rng';
import { beforeCandidates, loadAnalysis } from '../../src/extension/panel/analysisSource';
import { GallerySource } from '../../src/extension/panel/gallery';

let dir: string;
const images: BenchmarkImage[] = [];

async function bench(out: string, list: BenchmarkImage[], spread: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const data = new Float32Array(list.length * 8);
  list.forEach((im, i) => {
    for (let j = 0; j < 8; j++) data[i * 8 + j] = Math.sin(im.label * (j + 1)) + (rng.next() - 0.5) * spread;
  });
  await runSopBenchmark({
    images: list,
    imageRoot: dir,
    embedder: async () => data,
    outDir: out,
    run: { model: out, backend: 'wasm' },
    evaluate: { recallKs: [1, 10], neighbours: 4 },
  });
}

before(async () => {
  await activateBackend('wasm');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-analysis-source-'));
  for (let p = 0; p < 12; p++)
    for (let v = 0; v < 3; v++) images.push({ path: `${p % 2 ? 'mug' : 'lamp'}_final/${p}_${v}.jpg`, label: p });
  await bench(path.join(dir, 'run', 'eval-latest'), images, 0.6, 1);
  await bench(path.join(dir, 'run', 'eval-before'), images, 1.5, 2);
  // A zero-shot benchmark of the same images in another order: not comparable image by image.
  await bench(path.join(dir, 'run', 'zero-shot'), [...images].reverse(), 1.5, 3);
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('eval-before beside eval-latest is the "before"; maps and the error analysis of both', async () => {
  const manifest = path.join(dir, 'run', 'eval-latest', 'neighbours.json');
  const gallery = await GallerySource.read(manifest);
  const input = { runDir: path.join(dir, 'run'), galleryManifest: manifest, images: gallery.data.images };
  assert.deepEqual(beforeCandidates(input).slice(0, 2), [
    path.join(dir, 'run', 'eval-before'),
    path.join(dir, 'run', 'zero-shot'),
  ]);
  // A checkpoint's benchmark opened on its own looks up to two levels above it (the demo's zero-shot/).
  const inCheckpoint = { ...input, galleryManifest: path.join(dir, 'run', 'ckpt', 'benchmark-sop', 'neighbours.json') };
  assert.ok(
    beforeCandidates({ ...inCheckpoint, runDir: path.dirname(inCheckpoint.galleryManifest) }).includes(
      path.join(dir, 'run', 'zero-shot'),
    ),
  );
  const { analysis } = loadAnalysis(input);
  assert.ok(analysis);
  assert.equal(analysis.before!.label, 'before: eval-before');
  assert.equal(analysis.after!.label, 'after: eval-latest');
  assert.equal(analysis.after!.x.length, images.length);
  assert.deepEqual(analysis.notes, []);
  // The same numbers as the CLI's analysis of the two folders.
  const cli = analyseBenchmarks(path.join(dir, 'run', 'eval-before'), path.join(dir, 'run', 'eval-latest'), {
    topQueries: 25,
    topPairs: 25,
  }).analysis;
  assert.deepEqual(analysis.errors, cli);
  assert.deepEqual(
    analysis.errors!.superClasses.map((s) => s.superClass),
    ['lamp', 'mug'],
  );
});

test('a "before" that lists the images in another order is not used; a missing map says how to make it', async () => {
  fs.renameSync(path.join(dir, 'run', 'eval-before'), path.join(dir, 'run', 'eval-before-away'));
  fs.rmSync(path.join(dir, 'run', 'eval-latest', 'embedding_map.json'));
  try {
    const manifest = path.join(dir, 'run', 'eval-latest', 'neighbours.json');
    const gallery = await GallerySource.read(manifest);
    const r = loadAnalysis({ runDir: path.join(dir, 'run'), galleryManifest: manifest, images: gallery.data.images });
    // Nothing to show at all: the reason names both problems.
    assert.equal(r.analysis, null);
    assert.match(r.reason!, /no embedding_map\.json in .*eval-latest; make it with `vembed benchmark map /);
    assert.match(
      r.reason!,
      /No benchmark of the same images before fine-tuning \(looked for eval-before\/ and zero-shot\/ in /,
    );
  } finally {
    fs.renameSync(path.join(dir, 'run', 'eval-before-away'), path.join(dir, 'run', 'eval-before'));
  }
});
