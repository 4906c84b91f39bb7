/**
 * The extension's side of the results panel, without VS Code: reading run
 * folders, reports and neighbours files, thumbnails with sharp, the panel
 * session answering the page, and the HTML's Content-Security-Policy.
 * Real files in a temp folder; the live run is a real EngineProcess replaying
 * recorded events from a child Node process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { EngineProcess } from '../../src/extension/engineClient/engineProcess';
import { METADATA_FILE, writeMetadata } from '../../src/shared/artifacts/metadataFile';
import { writeNeighbours } from '../../src/shared/artifacts/neighboursFile';
import { GalleryFileError, GallerySource, superClassFromPath } from '../../src/extension/panel/gallery';
import { buildPanelHtml, contentSecurityPolicy, makeNonce } from '../../src/extension/panel/panelHtml';
import { PanelSession, type LiveRunSource } from '../../src/extension/panel/panelSession';
import { checkDataHealth } from '../../src/engine/data/dataHealth';
import { DATA_HEALTH_FILE } from '../../src/shared/artifacts/dataHealthFile';
import { makeEvent, type EngineEvent } from '../../src/shared/protocol';
import { imageFileFromUri, type SearchImageRequest } from '../../src/extension/panel/panelSearch';
import { readReport } from '../../src/extension/panel/reports';
import { loadRunFolder, locateRunOutputs } from '../../src/extension/panel/runFolder';
import { ThumbnailCache } from '../../src/extension/panel/thumbnails';
import { parsePanelMessage, type HostMessage } from '../../src/shared/panelProtocol';
import { foldRun, initialRunState, reduceRun, type RunState } from '../../src/shared/runState';
import { initialModel, reduce } from '../../webview-ui/src/state';
import { writeGalleryFixture, type GalleryFixture } from './fixtures/galleryFixture';
import { reportJson, trainingRunEvents } from './fixtures/runFixture';

let tmp: string;
let fixture: GalleryFixture;
let runDir: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-panel-host-'));
  fixture = await writeGalleryFixture(tmp, { productsPerClass: 3, imagesPerProduct: 3, k: 8, size: 96 });
  runDir = path.join(tmp, 'run');
  writeRun(runDir);
});

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeRun(dir: string, extraLines: string[] = []): void {
  const events = trainingRunEvents({ runDir: dir, stepsPerEpoch: 30 });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'events.jsonl'),
    [...events.map((e) => JSON.stringify(e)), ...extraLines].join('\n') + '\n',
  );
  for (const ep of [0, 1, 2]) fs.writeFileSync(path.join(dir, `eval-epoch-${ep}.json`), JSON.stringify(reportJson(ep)));
}

/** A session whose messages land in `posted`; thumbnails get a recognisable URI. */
function session(extra: Partial<ConstructorParameters<typeof PanelSession>[0]> = {}) {
  const posted: HostMessage[] = [];
  const logs: string[] = [];
  const opened: string[] = [];
  const s = new PanelSession({
    post: (m) => posted.push(m),
    toWebviewUri: (p) => `https://file+.vscode-resource.test${pathToFileURL(p).pathname}`,
    thumbnails: new ThumbnailCache(path.join(tmp, 'thumbs')),
    scratchDir: path.join(tmp, 'scratch'),
    topK: () => 5,
    openFile: (p) => opened.push(p),
    log: (m) => logs.push(m),
    flushMs: 10,
    ...extra,
  });
  return { s, posted, logs, opened };
}

const ofType = <T extends HostMessage['type']>(posted: HostMessage[], type: T) =>
  posted.filter((m): m is Extract<HostMessage, { type: T }> => m.type === type);

test('a run folder reads like the live run, bad lines reported with their numbers', async () => {
  const dir = path.join(tmp, 'torn');
  writeRun(dir, [
    '{"v":1,"type":"step","step":',
    'not json at all',
    JSON.stringify({ v: 1, type: 'future_event', time: 'x' }),
  ]);
  const loaded = await loadRunFolder(dir);
  const events = trainingRunEvents({ runDir: dir, stepsPerEpoch: 30 });
  assert.deepEqual(loaded.state, foldRun(events));
  const file = path.join(dir, 'events.jsonl');
  assert.deepEqual(loaded.problems, [
    `${file}:${events.length + 1}: malformed JSON; line skipped`,
    `${file}:${events.length + 2}: not JSON; line skipped`,
    `${file}: 1 event(s) of types this version does not know were skipped (a newer engine wrote them).`,
  ]);

  const missing = await loadRunFolder(path.join(tmp, 'nowhere'));
  assert.equal(missing.found, false);
  assert.match(missing.problems[0]!, /events\.jsonl does not exist/);

  const cut = path.join(tmp, 'interrupted');
  fs.mkdirSync(cut);
  fs.writeFileSync(
    path.join(cut, 'events.jsonl'),
    trainingRunEvents({ runDir: cut, upToStep: 10 })
      .map((e) => JSON.stringify(e))
      .join('\n'),
  );
  const interrupted = await loadRunFolder(cut);
  assert.equal(interrupted.state.status, 'stopped');
  assert.match(interrupted.problems.join('\n'), /without a "finished" event/);
});

test('reports and neighbours are found from the events, relative or absolute', async () => {
  const state = (await loadRunFolder(runDir)).state;
  assert.deepEqual(locateRunOutputs(runDir, state), {
    before: path.join(runDir, 'eval-epoch-0.json'),
    after: path.join(runDir, 'eval-epoch-2.json'),
    neighbours: fixture.neighboursFile,
  });
  // Relative paths in `outputs` are relative to the run folder; missing files are left out.
  const relative = {
    ...state,
    evaluations: [],
    checkpoints: [],
    outputs: { report_after: 'eval-epoch-1.json', neighbours: 'nope.json' },
  };
  assert.deepEqual(locateRunOutputs(runDir, relative), {
    after: path.join(runDir, 'eval-epoch-1.json'),
    neighbours: fixture.neighboursFile,
  });
  // A benchmark folder without events: its sop_report.json is the report.
  assert.deepEqual(locateRunOutputs(runDir, { ...state, evaluations: [], outputs: {} }), {
    after: path.join(runDir, 'sop_report.json'),
    neighbours: fixture.neighboursFile,
  });
  // The Evaluate command benchmarks a checkpoint into <checkpoint>/benchmark-sop.
  const trained = path.join(tmp, 'trained');
  fs.mkdirSync(path.join(trained, 'checkpoint-epoch-2', 'benchmark-sop'), { recursive: true });
  fs.copyFileSync(fixture.neighboursFile, path.join(trained, 'checkpoint-epoch-2', 'benchmark-sop', 'neighbours.json'));
  const found = locateRunOutputs(trained, {
    ...state,
    outputs: {},
    checkpoints: [
      { path: path.join(trained, 'checkpoint-epoch-1'), step: 1, epoch: 1, kind: 'epoch' },
      { path: 'checkpoint-epoch-2', step: 2, epoch: 2, kind: 'final' },
    ],
  });
  assert.equal(found.neighbours, path.join(trained, 'checkpoint-epoch-2', 'benchmark-sop', 'neighbours.json'));
});

test('reports: read with the engine reader, in fractions, errors name the file', async () => {
  const dir = path.join(tmp, 'reports');
  fs.mkdirSync(dir, { recursive: true });
  const write = (name: string, text: string) => (fs.writeFileSync(path.join(dir, name), text), path.join(dir, name));
  const anchor = await readReport(
    write(
      'base.json',
      JSON.stringify({
        'recall@1': 0.5501,
        'recall@10': 0.7109,
        num_images: 60502,
        num_valid_queries: 60502,
        model: 'facebook/dinov2-base',
      }),
    ),
  );
  assert.equal(anchor.label, 'facebook/dinov2-base', 'named by its model when no label is given');
  assert.deepEqual(Object.keys(anchor.metrics), ['recall@1', 'recall@10']);
  assert.ok(Math.abs(anchor.metrics['recall@1']! - 0.5501) < 1e-12);
  assert.equal(anchor.numValidQueries, 60502);
  // Reports written in percent (other tools) read the same.
  const percent = await readReport(
    write('pct.json', JSON.stringify({ 'recall@1': 55.01, 'map@r': 27.1 })),
    'zero-shot',
  );
  assert.ok(Math.abs(percent.metrics['recall@1']! - 0.5501) < 1e-12);
  assert.equal(percent.label, 'zero-shot');
  await assert.rejects(readReport(write('torn.json', '{"recall@1": 0.5')), (e: Error) =>
    e.message.startsWith(`${path.join(dir, 'torn.json')}: not valid JSON`),
  );
  await assert.rejects(readReport(write('other.json', '{"accuracy": 0.5}')), /other\.json: no metrics found/);
});

test('benchmark neighbours (engine format): "same product", ranks, super classes; errors name the file', async () => {
  const g = await GallerySource.read(fixture.neighboursFile);
  assert.equal(g.data.images.length, fixture.images.length);
  assert.equal(g.data.k, fixture.k);
  assert.equal(g.data.rankCap, fixture.rankCap);
  assert.ok(g.inline);
  // The lone image's query counts in no metric and is left out.
  assert.deepEqual(
    g.data.queries.map((q) => q.image),
    fixture.queries.map((q) => q.image),
  );
  assert.equal(g.data.queries.length, fixture.images.length - 1);
  assert.ok(
    fixture.queries.some((q) => q.firstCorrectRank === null),
    'the fixture has ranks beyond the cap',
  );
  for (const [i, expected] of fixture.queries.entries()) {
    const got = g.data.queries[i]!;
    assert.equal(got.firstCorrectRank, expected.firstCorrectRank, `query ${i}`);
    assert.deepEqual(
      got.neighbours!.map((n) => [n.image, n.score, n.same]),
      expected.neighbours.map(([img, sc]) => [
        img,
        sc,
        fixture.images[img]!.label === fixture.images[expected.image]!.label,
      ]),
    );
  }
  assert.equal(g.data.images[5]!.superClass, fixture.images[5]!.superClass, 'super class from the SOP folder name');
  assert.equal(
    g.imagePath(4),
    path.join(fixture.imageRoot, fixture.images[4]!.path),
    'paths resolve against image_root of sop_report.json',
  );
  assert.equal(g.indexOfPath(path.join(fixture.imageRoot, fixture.images[7]!.path)), 7);
  assert.equal(g.neighbours(g.data.queries.length), undefined);

  // A small table: metadata super classes and string labels; the lazy form; errors.
  const dir = path.join(tmp, 'small-benchmark');
  fs.mkdirSync(dir, { recursive: true });
  const table = {
    numQueries: 3,
    k: 2,
    rankCap: 10,
    indices: Int32Array.from([1, 2, 0, 2, 0, 1]),
    scores: Float32Array.from([0.5, 0.25, 0.5, 0.125, 0.25, 0.125]),
    sameClass: Uint8Array.from([0, 1, 0, 0, 1, 0]),
    firstCorrectRank: Int32Array.from([2, -1, 1]),
  };
  writeMetadata(path.join(dir, METADATA_FILE), [
    { path: '/photos/a.jpg', label: 'cup-1', super_class: 'cups' },
    { path: 'b.jpg', label: 'cup-2' },
    { path: 'c.jpg', label: 'cup-1' },
  ]);
  const manifest = writeNeighbours(dir, table, METADATA_FILE);
  const small = await GallerySource.read(manifest, 2);
  assert.equal(small.inline, false);
  assert.deepEqual(small.data.queries, [
    { image: 0, firstCorrectRank: 2 },
    { image: 2, firstCorrectRank: 1 },
  ]);
  assert.deepEqual(
    small.data.images.map((i) => [i.label, i.superClass]),
    [
      ['cup-1', 'cups'],
      ['cup-2', undefined],
      ['cup-1', undefined],
    ],
  );
  assert.deepEqual(small.neighbours(1), [
    { image: 0, score: 0.25, same: true },
    { image: 1, score: 0.125, same: false },
  ]);
  assert.equal(small.imagePath(0), '/photos/a.jpg');
  assert.equal(small.imagePath(1), path.join(dir, 'b.jpg'), 'no report beside: relative to the folder');

  writeMetadata(path.join(dir, METADATA_FILE), [{ path: 'a.jpg' }]);
  await assert.rejects(
    GallerySource.read(manifest),
    (e: Error) =>
      e instanceof GalleryFileError &&
      e.message ===
        `${path.join(dir, METADATA_FILE)}: 1 image records for 3 images in neighbours.json; the files come from different runs`,
  );
  writeNeighbours(dir, table);
  await assert.rejects(GallerySource.read(manifest), /names no metadata\.jsonl/);
  fs.writeFileSync(manifest, '{"format": "something-else"}');
  await assert.rejects(GallerySource.read(manifest), (e: Error) =>
    e.message.startsWith(`${manifest}: not a neighbours manifest`),
  );
  assert.equal(superClassFromPath('bicycle_final/1.JPG'), 'bicycle');
  assert.equal(superClassFromPath('1.JPG'), undefined);
});

test('a benchmark folder (report and neighbours, no events) opens without complaint', async () => {
  const bench = path.join(tmp, 'benchmark-only');
  fs.mkdirSync(bench, { recursive: true });
  for (const f of fs.readdirSync(fixture.runDir))
    if (!f.startsWith('eval-') && f !== 'events.jsonl')
      fs.copyFileSync(path.join(fixture.runDir, f), path.join(bench, f));
  const { s, posted } = session();
  await s.handle({ type: 'ready' });
  await s.openRun(bench);
  const runs = ofType(posted, 'run');
  assert.match(runs[0]!.problems[0]!, /events\.jsonl does not exist/);
  assert.deepEqual(runs[runs.length - 1]!.problems, [], 'dropped once the report and neighbours are found');
  const reports = ofType(posted, 'reports').at(-1)!;
  assert.equal(reports.before, undefined);
  assert.equal(reports.after!.label, 'checkpoint-epoch-2', 'named by the model in the report');
  assert.equal(ofType(posted, 'gallery')[0]!.gallery!.queries.length, fixture.queries.length);
  s.dispose();
});

test('thumbnails: made once, refreshed when the image changes, errors name the image', async () => {
  const cache = new ThumbnailCache(path.join(tmp, 'thumb-cache'), { edge: 64 });
  const src = path.join(tmp, 'thumb-src.png');
  await sharp({ create: { width: 300, height: 150, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .png()
    .toFile(src);
  const paths = await Promise.all(Array.from({ length: 8 }, () => cache.thumbnail(src)));
  assert.equal(new Set(paths).size, 1, 'concurrent requests share one thumbnail');
  const meta = await sharp(paths[0]!).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['webp', 64, 32], 'longest edge 64, aspect kept');
  const firstWrite = fs.statSync(paths[0]!).mtimeMs;
  assert.equal(await cache.thumbnail(src), paths[0]);
  assert.equal(fs.statSync(paths[0]!).mtimeMs, firstWrite, 'served from the cache, not rewritten');
  assert.deepEqual(
    fs.readdirSync(path.dirname(paths[0]!)).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary files left',
  );

  await sharp({ create: { width: 40, height: 80, channels: 3, background: { r: 0, g: 0, b: 200 } } })
    .png()
    .toFile(src);
  fs.utimesSync(src, new Date(), new Date(Date.now() + 5000));
  const changed = await cache.thumbnail(src);
  assert.notEqual(changed, paths[0]);
  assert.deepEqual([(await sharp(changed).metadata()).width, (await sharp(changed).metadata()).height], [32, 64]);

  const broken = path.join(tmp, 'broken.jpg');
  fs.writeFileSync(broken, 'not an image');
  await assert.rejects(cache.thumbnail(broken), (e: Error) =>
    e.message.startsWith(`cannot make a thumbnail of ${broken}:`),
  );
  await assert.rejects(cache.thumbnail(path.join(tmp, 'gone.jpg')), /file not found/);
});

test('a finished run: snapshot on ready, thumbnails and neighbours by index only', async () => {
  const { s, posted, logs, opened } = session();
  await s.openRun(runDir);
  assert.equal(posted.length, 0, 'nothing is sent before the page is ready');
  await s.handle({ type: 'ready' });
  assert.deepEqual(
    posted.map((m) => m.type),
    ['run', 'reports', 'gallery', 'analysis', 'dataHealth'],
  );
  // This benchmark predates embedding maps and has no "before" of the same images: the tab says what to run.
  const analysis = ofType(posted, 'analysis')[0]!;
  assert.equal(analysis.analysis, null);
  assert.match(analysis.reason!, /no embedding_map\.json .*`vembed benchmark map /);
  const run = ofType(posted, 'run')[0]!;
  assert.equal(run.runDir, runDir);
  assert.equal(run.live, false);
  assert.equal(run.state.status, 'completed');
  const reports = ofType(posted, 'reports')[0]!;
  assert.ok(Math.abs(reports.before!.metrics['recall@1']! - 0.5501) < 1e-12);
  assert.equal(reports.before!.label, 'epoch 0, before training');
  assert.equal(reports.after!.label, 'epoch 2');
  assert.ok(Math.abs(reports.after!.metrics['recall@1000']! - 0.99) < 1e-12);
  const gallery = ofType(posted, 'gallery')[0]!.gallery!;
  assert.equal(gallery.queries.length, fixture.queries.length);

  posted.length = 0;
  await s.handle({ type: 'requestThumbnails', images: [0, 5, 5000] });
  const thumbs = ofType(posted, 'thumbnails').reduce<Record<string, string | null>>(
    (acc, m) => ({ ...acc, ...m.uris }),
    {},
  );
  assert.deepEqual(Object.keys(thumbs).sort(), ['0', '5'], 'an index past the gallery is ignored');
  for (const uri of Object.values(thumbs)) {
    assert.match(uri!, /^https:\/\/file\+\.vscode-resource\.test\/.*\.webp$/);
    const file = decodeURIComponent(uri!.replace('https://file+.vscode-resource.test', ''));
    assert.ok(fs.existsSync(file), file);
  }

  await s.handle({ type: 'openImage', image: 3 });
  await s.handle({ type: 'openImage', image: 99999 });
  assert.deepEqual(opened, [path.join(fixture.imageRoot, fixture.images[3]!.path)]);

  await s.handle({ type: 'requestThumbnails', images: ['../../etc/passwd'] });
  await s.handle({ type: 'openFile', path: '/etc/passwd' });
  // No data-health.json in this folder: no listed image to open, and never by path.
  await s.handle({ type: 'openHealthImage', image: 0 });
  await s.handle({ type: 'openHealthImage', image: '/etc/passwd' });
  assert.equal(opened.length, 1);
  assert.deepEqual(logs, [
    'results panel: ignored a message from the page: requestThumbnails: images must be an array of image indexes',
    'results panel: ignored a message from the page: unknown message type openFile',
    'results panel: ignored a message from the page: openHealthImage: image must be an image index',
  ]);

  // The page reloaded (panel hidden, then shown): everything again.
  s.pageGone();
  posted.length = 0;
  await s.handle({ type: 'ready' });
  assert.deepEqual(
    posted.map((m) => m.type),
    ['run', 'reports', 'gallery', 'analysis', 'dataHealth'],
  );
  const health = ofType(posted, 'dataHealth')[0]!;
  assert.equal(health.health, null);
  assert.match(health.reason!, /^No data-health\.json in /);
  s.dispose();
});

test('a large gallery sends neighbours on request', async () => {
  const big = path.join(tmp, 'big-run');
  fs.mkdirSync(big, { recursive: true });
  fs.writeFileSync(path.join(big, 'events.jsonl'), '');
  // 7000 images x 8 neighbours: past the inline limit. Images repeat the fixture's files.
  const n = 7000;
  const k = 8;
  const indices = Int32Array.from({ length: n * k }, (_, i) => (Math.floor(i / k) + 1 + (i % k)) % n);
  writeMetadata(
    path.join(big, METADATA_FILE),
    Array.from({ length: n }, (_, i) => ({
      path: path.join(fixture.imageRoot, fixture.images[i % fixture.images.length]!.path),
      label: i >> 1,
    })),
  );
  writeNeighbours(
    big,
    {
      numQueries: n,
      k,
      rankCap: 100,
      indices,
      scores: new Float32Array(n * k).fill(0.5),
      sameClass: new Uint8Array(n * k),
      firstCorrectRank: new Int32Array(n).fill(3),
    },
    METADATA_FILE,
  );
  const { s, posted } = session();
  await s.handle({ type: 'ready' });
  await s.openRun(big);
  const g = ofType(posted, 'gallery')[0]!.gallery!;
  assert.equal(g.queries.length, n);
  assert.equal(g.queries[0]!.neighbours, undefined, `${n} x ${k} neighbours exceed the inline limit`);
  await s.handle({ type: 'requestNeighbours', query: 2 });
  const msg = ofType(posted, 'neighbours')[0]!;
  assert.equal(msg.query, 2);
  assert.deepEqual(
    msg.neighbours.map((x) => x.image),
    [3, 4, 5, 6, 7, 8, 9, 10],
  );
  s.dispose();
});

test('a live run: batched events after a snapshot fold to the same state, then the outputs load', async () => {
  const liveDir = path.join(tmp, 'live-run');
  fs.mkdirSync(liveDir, { recursive: true });
  const events = trainingRunEvents({ runDir: liveDir, stepsPerEpoch: 40 });
  const recorded = path.join(tmp, 'live-events.jsonl');
  fs.writeFileSync(recorded, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  // A stand-in engine: prints the recorded events in small bursts, writing the outputs before `finished`.
  const script = path.join(tmp, 'replay.js');
  fs.writeFileSync(
    script,
    `const fs = require('fs'); const path = require('path');
const lines = fs.readFileSync(process.argv[2], 'utf8').trim().split('\\n');
const dir = process.argv[3]; let i = 0;
const tick = () => {
  for (let n = 0; n < 15 && i < lines.length; n++, i++) {
    if (i === lines.length - 1) {
      for (const f of fs.readdirSync(process.argv[4])) if (/^(neighbours.*|first_correct_rank\\.npy|metadata\\.jsonl|sop_report\\.json)$/.test(f)) fs.copyFileSync(path.join(process.argv[4], f), path.join(dir, f));
      for (const ep of [0, 1, 2]) fs.writeFileSync(path.join(dir, 'eval-epoch-' + ep + '.json'), JSON.stringify({ 'recall@1': 0.5 + ep / 10 }));
    }
    process.stdout.write(lines[i] + '\\n');
  }
  if (i < lines.length) setTimeout(tick, 3); else process.exit(0);
};
tick();`,
  );
  const { s, posted } = session();
  await s.handle({ type: 'ready' });
  const engine = new EngineProcess({
    nodePath: process.execPath,
    enginePath: script,
    args: [recorded, liveDir, fixture.runDir],
    cwd: tmp,
  });
  engine.start();
  await s.openRun(liveDir, engine);
  const exit = await engine.exited;
  assert.equal(exit.code, 0);
  await waitFor(() => ofType(posted, 'gallery').some((m) => m.gallery !== null), 'the gallery after the run');

  const runs = ofType(posted, 'run');
  assert.equal(runs[0]!.live, true);
  assert.equal(runs[runs.length - 1]!.live, false);
  assert.equal(runs[runs.length - 1]!.state.status, 'completed');
  const batches = ofType(posted, 'events');
  // Batched: far fewer messages than events (how many depends on timing: a busy machine may see one burst).
  assert.ok(
    batches.length >= 1 && batches.length < events.length / 3,
    `${batches.length} event messages for ${events.length} events`,
  );
  // What the page makes of the messages in order equals folding every event.
  let model = initialModel();
  for (const m of posted.slice(posted.indexOf(runs[0]!))) {
    if (m.type === 'run' && m !== runs[0]) break;
    model = reduce(model, { type: 'host', message: m });
  }
  assert.deepEqual(model.run, foldRun(events));
  assert.ok(
    ofType(posted, 'reports').some((m) => Math.abs((m.before?.metrics['recall@1'] ?? 0) - 0.5) < 1e-12),
    'reports refreshed when evaluations name them',
  );
  s.dispose();
});

test('search by image: dropped bytes reach the hook as a file; hits get thumbnails and labels', async () => {
  const unwired = session();
  await unwired.s.handle({ type: 'ready' });
  await unwired.s.handle({
    type: 'searchImage',
    requestId: 'page-1',
    name: 'q.png',
    source: { kind: 'bytes', mime: 'image/png', base64: 'iVBORw0KGgo=' },
  });
  assert.match(ofType(unwired.posted, 'searchFailed')[0]!.message, /not connected to the engine/);

  const requests: SearchImageRequest[] = [];
  const hits = [3, 1, 8].map((i, r) => ({
    path: path.join(fixture.imageRoot, fixture.images[i]!.path),
    score: 0.9 - r / 10,
  }));
  const { s, posted, opened } = session({
    searchImage: async (req) => {
      requests.push(req);
      return hits;
    },
  });
  await s.handle({ type: 'ready' });
  await s.openRun(runDir);
  const bytes = fs.readFileSync(path.join(fixture.imageRoot, fixture.images[0]!.path));
  await s.handle({
    type: 'searchImage',
    requestId: 'page-7',
    name: 'query.png',
    source: { kind: 'bytes', mime: 'image/png', base64: bytes.toString('base64') },
  });
  assert.equal(requests.length, 1);
  assert.equal(requests[0]!.runDir, runDir);
  assert.equal(requests[0]!.topK, 5);
  assert.deepEqual(fs.readFileSync(requests[0]!.imagePath), bytes, 'the engine gets the same bytes');
  const result = ofType(posted, 'searchResult')[0]!;
  assert.equal(result.requestId, 'page-7');
  assert.deepEqual(
    result.hits.map((h) => [h.path, h.score, h.label, h.superClass]),
    hits.map((h, r) => [
      h.path,
      h.score,
      fixture.images[[3, 1, 8][r]!]!.label,
      fixture.images[[3, 1, 8][r]!]!.superClass,
    ]),
  );
  assert.ok(result.hits.every((h) => h.thumbnail?.endsWith('.webp')));
  await s.handle({ type: 'openSearchHit', requestId: 'page-7', index: 2 });
  await s.handle({ type: 'openSearchHit', requestId: 'page-0', index: 0 });
  assert.deepEqual(opened, [hits[2]!.path]);

  // From the explorer: a file URI; only image files.
  await s.handle({
    type: 'searchImage',
    requestId: 'page-8',
    name: 'x',
    source: { kind: 'uri', uri: pathToFileURL(path.join(fixture.imageRoot, fixture.images[2]!.path)).href },
  });
  assert.equal(requests[1]!.imagePath, path.join(fixture.imageRoot, fixture.images[2]!.path));
  assert.ok(ofType(posted, 'searchResult')[1]!.query.thumbnail?.endsWith('.webp'));
  await s.handle({
    type: 'searchImage',
    requestId: 'page-9',
    name: 'x',
    source: { kind: 'uri', uri: pathToFileURL(path.join(runDir, 'events.jsonl')).href },
  });
  assert.match(
    ofType(posted, 'searchFailed').find((m) => m.requestId === 'page-9')!.message,
    /events\.jsonl is not an image/,
  );
  assert.throws(() => imageFileFromUri('https://example.com/a.png'), /Only local files/);

  // A hook that fails: its message reaches the page.
  const failing = session({
    searchImage: () => Promise.reject(new Error('this run has no index; run a benchmark first')),
  });
  await failing.s.handle({ type: 'ready' });
  await failing.s.handle({
    type: 'searchImage',
    requestId: 'page-1',
    name: 'q.png',
    source: { kind: 'bytes', mime: 'image/png', base64: bytes.toString('base64') },
  });
  assert.equal(
    ofType(failing.posted, 'searchFailed')[0]!.message,
    'Search failed: this run has no index; run a benchmark first',
  );
  s.dispose();
});

test('results from the Find Similar command wait for the page and bring the Search tab forward', async () => {
  const { s, posted } = session();
  await s.showSearchResults(path.join(fixture.imageRoot, fixture.images[0]!.path), [
    { path: path.join(fixture.imageRoot, fixture.images[1]!.path), score: 0.77 },
  ]);
  assert.equal(posted.length, 0, 'nothing is sent before the page is ready');
  await s.handle({ type: 'ready' });
  const r = ofType(posted, 'searchResult')[0]!;
  assert.equal(r.requestId, 'host-1');
  assert.ok(r.query.thumbnail);
  assert.equal(r.hits[0]!.score, 0.77);
  assert.deepEqual(posted[posted.length - 1], { type: 'showTab', tab: 'search' });
  posted.length = 0;
  await s.handle({ type: 'ready' });
  assert.deepEqual(
    posted.map((m) => m.type),
    ['reports', 'searchResult'],
    'a reload shows the result again without switching tabs',
  );
  s.dispose();
});

test('page messages are validated', () => {
  assert.equal(parsePanelMessage({ type: 'ready' }).ok, true);
  assert.equal(parsePanelMessage(null).ok, false);
  assert.equal(
    parsePanelMessage({ type: 'requestThumbnails', images: Array.from({ length: 600 }, (_, i) => i) }).ok,
    false,
  );
  assert.equal(parsePanelMessage({ type: 'requestNeighbours', query: -1 }).ok, false);
  assert.equal(
    parsePanelMessage({
      type: 'searchImage',
      requestId: 'a',
      name: 'b',
      source: { kind: 'bytes', mime: 'text/html', base64: '' },
    }).ok,
    false,
  );
  assert.equal(
    parsePanelMessage({
      type: 'searchImage',
      requestId: 'a',
      name: 'b',
      source: { kind: 'bytes', mime: 'image/png', base64: '<script>' },
    }).ok,
    false,
  );
  assert.equal(
    parsePanelMessage({ type: 'searchImage', requestId: 'a', name: 'b', source: { kind: 'uri', uri: 'file:///a.png' } })
      .ok,
    true,
  );
});

test('the HTML: strict CSP, nonce on the script, escaped title', () => {
  const nonce = makeNonce();
  assert.match(nonce, /^[A-Za-z0-9+/]{22}==$/);
  assert.notEqual(nonce, makeNonce());
  const csp = contentSecurityPolicy('https://x.vscode-cdn.net', nonce);
  assert.equal(
    csp,
    `default-src 'none'; img-src https://x.vscode-cdn.net data:; style-src https://x.vscode-cdn.net; script-src 'nonce-${nonce}'; base-uri 'none'; form-action 'none'`,
  );
  assert.doesNotMatch(csp, /unsafe|connect-src/);
  const html = buildPanelHtml({
    cspSource: 'https://x.vscode-cdn.net',
    nonce,
    scriptUri: 'https://x/main.js',
    styleUri: 'https://x/main.css',
    title: 'run <"a">',
  });
  assert.match(html, /<title>run &lt;&quot;a&quot;&gt;<\/title>/);
  assert.equal((html.match(/<script/g) ?? []).length, 1);
  assert.match(html, new RegExp(`<script nonce="${nonce.replace(/[+/]/g, '\\$&')}" src="https://x/main.js"></script>`));
  assert.doesNotMatch(html, /style=|<style/);
});

async function waitFor(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a live run: the data-health report is sent once the engine says it wrote it; its images open by index', async () => {
  const liveDir = path.join(tmp, 'live-health');
  fs.mkdirSync(liveDir, { recursive: true });
  const listener: { fn?: (e: EngineEvent, state: RunState) => void } = {};
  let state = initialRunState();
  const live: LiveRunSource = {
    get state() {
      return state;
    },
    on: (_event, fn) => (listener.fn = fn),
    off: () => (listener.fn = undefined),
    exited: new Promise(() => undefined),
  };
  const feed = (e: EngineEvent) => {
    state = reduceRun(state, e);
    listener.fn?.(e, state);
  };
  const { s, posted, opened } = session();
  await s.handle({ type: 'ready' });
  await s.openRun(liveDir, live);
  await waitFor(() => ofType(posted, 'dataHealth').length === 1, 'the first data-health message');
  assert.equal(ofType(posted, 'dataHealth')[0]!.health, null);
  // The engine's check: a training image listed again in the test split, as the training run's report says.
  const img = fixture.images[0]!.path;
  const listed = (split: 'train' | 'test', product: string) => ({
    path: path.join(fixture.imageRoot, img),
    shown: img,
    product,
    split,
  });
  const report = {
    ...(await checkDataHealth([listed('train', '1'), listed('test', '2')])),
    imageRoots: { train: fixture.imageRoot, test: fixture.imageRoot },
  };
  fs.writeFileSync(path.join(liveDir, DATA_HEALTH_FILE), JSON.stringify(report));
  feed(makeEvent({ type: 'log', level: 'info', message: 'data health: ... LEAKAGE ...' }));
  await waitFor(() => ofType(posted, 'dataHealth').length === 2, 'the report after the log line');
  const health = ofType(posted, 'dataHealth')[1]!.health!;
  assert.equal(health.leakage, true);
  assert.deepEqual(health.report, report);
  assert.deepEqual(
    health.images.map((i) => [i.split, i.image, i.exists, /\.webp$/.test(i.thumbnail ?? '')]),
    [
      ['train', img, true, true],
      ['test', img, true, true],
    ],
  );
  await s.handle({ type: 'openHealthImage', image: 1 });
  await s.handle({ type: 'openHealthImage', image: 2 });
  assert.deepEqual(opened, [path.join(fixture.imageRoot, img)]);

  // A report that is not what the check writes: the tab gets the reader's message, naming the file and the key.
  fs.writeFileSync(path.join(liveDir, DATA_HEALTH_FILE), JSON.stringify({ ...report, products: { train: 1 } }));
  feed(makeEvent({ type: 'warning', code: 'leakage', message: 'leakage', file: path.join(liveDir, DATA_HEALTH_FILE) }));
  await waitFor(() => ofType(posted, 'dataHealth').length === 3, 'the report after the warning');
  const bad = ofType(posted, 'dataHealth')[2]!;
  assert.equal(bad.health, null);
  assert.equal(
    bad.reason!.startsWith(`${path.join(liveDir, DATA_HEALTH_FILE)}: "products.test" must be`),
    true,
    bad.reason,
  );
  await s.handle({ type: 'openHealthImage', image: 0 });
  assert.equal(opened.length, 1, 'no image of an unreadable report opens');
  s.dispose();
});
