/**
 * The panel's state module without a browser: host messages and user actions
 * in, view model out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GalleryData, HostMessage, RunMessage } from '../../src/shared/panelProtocol';
import { makeEvent } from '../../src/shared/protocol';
import { MAX_POINTS, foldRun } from '../../src/shared/runState';
import { duration, percent, points } from '../../webview-ui/src/format';
import {
  PAGE_SIZE,
  filteredQueries,
  initialModel,
  navigate,
  persistedState,
  reduce,
  wantedResources,
  type Action,
  type PanelModel,
} from '../../webview-ui/src/state';
import {
  batchComposition,
  beforeAfter,
  configRows,
  evaluationTable,
  galleryView,
  lossSeries,
  lrSeries,
  openQueryView,
  recallSeries,
  reportTable,
  searchView,
  summary,
} from '../../webview-ui/src/viewModel';
import { EPOCH_METRICS, trainingRunEvents } from './fixtures/runFixture';

const RUN_DIR = '/runs/output_sop_dinov2_i2i';

function apply(model: PanelModel, ...actions: Action[]): PanelModel {
  return actions.reduce(reduce, model);
}
const host = (message: HostMessage): Action => ({ type: 'host', message });
const runMessage = (events = trainingRunEvents({ runDir: RUN_DIR }), live = false): RunMessage => ({
  type: 'run',
  runDir: RUN_DIR,
  title: 'output_sop_dinov2_i2i',
  live,
  state: foldRun(events),
  problems: [],
});

/** A gallery of `n` queries over 2 super classes; every third query fails at @1. */
function gallery(n: number, withNeighbours = true): GalleryData {
  const images = Array.from({ length: n }, (_, i) => ({
    path: `${i % 2 ? 'mug' : 'lamp'}_final/${i}.jpg`,
    label: Math.floor(i / 2),
    superClass: i % 2 ? 'mug' : 'lamp',
  }));
  return {
    source: '/runs/x/neighbours.json',
    k: 3,
    images,
    queries: images.map((_, i) => ({
      image: i,
      firstCorrectRank: i % 3 === 0 ? (i % 6 === 0 ? null : 2) : 1,
      ...(withNeighbours
        ? {
            neighbours: [1, 2, 3].map((d) => ({
              image: (i + d) % n,
              score: 1 - d / 10,
              same: images[(i + d) % n]!.label === images[i]!.label,
            })),
          }
        : {}),
    })),
  };
}

test('a live run folds events exactly as the shared reducer does', () => {
  const events = trainingRunEvents({ runDir: RUN_DIR });
  const split = 50;
  let m = apply(initialModel(), host(runMessage(events.slice(0, split), true)));
  assert.equal(m.live, true);
  for (let i = split; i < events.length; i += 17)
    m = reduce(m, host({ type: 'events', events: events.slice(i, i + 17) }));
  assert.deepEqual(m.run, foldRun(events));
  assert.equal(m.live, false, 'the finished event ends the live state');
  assert.equal(m.run!.status, 'completed');
});

test('curves, recall per epoch and the evaluation table come from the run', () => {
  const m = apply(initialModel(), host(runMessage()));
  const loss = lossSeries(m.run);
  assert.equal(loss.steps.length, 240);
  assert.deepEqual(loss.steps.slice(0, 3), [1, 2, 3]);
  // The smoothed loss is an exponential moving average with alpha 0.1, recomputed here independently.
  let ema = loss.values[0]!;
  for (let i = 1; i < loss.values.length; i++) ema = 0.9 * ema + 0.1 * loss.values[i]!;
  assert.ok(Math.abs(loss.smoothed[loss.smoothed.length - 1]! - ema) < 1e-12);
  assert.ok(loss.smoothed[239]! < loss.smoothed[10]!, 'the loss falls');
  const lr = lrSeries(m.run);
  assert.equal(lr.values.length, 240);
  assert.ok(Math.abs(Math.max(...lr.values) - 5e-5) < 1e-12, 'peak learning rate after warmup');

  const recall = recallSeries(m.run);
  assert.deepEqual(recall.epochs, [0, 1, 2]);
  assert.deepEqual(
    recall.series.map((s) => s.metric),
    ['recall@1', 'recall@10', 'recall@100'],
  );
  assert.deepEqual(
    recall.series[0]!.values.map((v) => Number(v!.toFixed(2))),
    [55.01, 73.12, 77.48],
  );

  const table = evaluationTable(m.run)!;
  assert.deepEqual(table.metrics, ['recall@1', 'recall@10', 'recall@100', 'map@r']);
  assert.deepEqual(
    table.rows.map((r) => r.label),
    ['before training', 'epoch 1', 'epoch 2'],
  );
  assert.equal(table.rows[2]!.values[1], EPOCH_METRICS[2]!['recall@10']);
});

test('long runs stay within the point budget on screen', () => {
  const events = [
    makeEvent({ type: 'run_started', command: 'train', backend: 'wasm', device: 'x', totalSteps: 30000 }),
  ];
  let m = apply(
    initialModel(),
    host({ type: 'run', runDir: RUN_DIR, title: 't', live: true, state: foldRun(events), problems: [] }),
  );
  const batch = [];
  for (let s = 1; s <= 30000; s++) {
    batch.push(makeEvent({ type: 'step', step: s, epoch: 1, loss: 5 / Math.sqrt(s), lr: 1e-4 }));
    if (batch.length === 2000) m = reduce(m, host({ type: 'events', events: batch.splice(0) }));
  }
  const loss = lossSeries(m.run);
  assert.ok(loss.steps.length <= MAX_POINTS, `${loss.steps.length} points`);
  assert.ok(loss.steps.length > MAX_POINTS / 4, 'but not thinned to nothing');
  assert.equal(m.run!.step, 30000);
  assert.ok(
    loss.steps.every((s, i) => i === 0 || s > loss.steps[i - 1]!),
    'steps increase',
  );
});

test('before/after: from the run evaluations, or from the reports when sent', () => {
  let m = apply(initialModel(), host(runMessage()));
  let ba = beforeAfter(m)!;
  assert.equal(ba.beforeLabel, 'epoch 0, before training');
  assert.equal(ba.afterLabel, 'epoch 2');
  const r1 = ba.rows.find((r) => r.metric === 'recall@1')!;
  assert.equal(r1.before, 0.5501);
  assert.equal(r1.after, 0.7748);
  assert.ok(Math.abs(r1.delta! - 0.2247) < 1e-12);
  assert.equal(points(r1.delta), '+22.47');

  m = reduce(
    m,
    host({
      type: 'reports',
      before: { label: 'base model', metrics: { 'recall@1': 0.5501, 'recall@1000': 0.97 }, path: '/r/b.json' },
      after: { label: 'fine-tuned', metrics: { 'recall@1': 0.7748, 'recall@1000': 0.99 } },
    }),
  );
  ba = beforeAfter(m)!;
  assert.deepEqual(
    ba.rows.map((r) => r.label),
    ['Recall@1', 'Recall@1000'],
  );
  assert.equal(ba.beforeLabel, 'base model');
  assert.equal(ba.beforePath, '/r/b.json');

  const onlyStart = apply(initialModel(), host(runMessage(trainingRunEvents({ runDir: RUN_DIR, upToStep: 30 }))));
  assert.equal(beforeAfter(onlyStart), null, 'no comparison until an epoch after training is evaluated');
});

test('a benchmark folder: no run summary, its reports as the metrics table', () => {
  const m = apply(
    initialModel(),
    host({ type: 'run', runDir: '/b', title: 'benchmark-sop', live: false, state: foldRun([]), problems: [] }),
    host({
      type: 'reports',
      after: { label: 'checkpoint-epoch-2', metrics: { 'map@r': 0.4, 'recall@1': 0.77 }, numValidQueries: 60502 },
    }),
  );
  assert.equal(summary(m), null);
  assert.equal(evaluationTable(m.run), null);
  assert.deepEqual(reportTable(m), {
    split: 'benchmark',
    metrics: ['recall@1', 'map@r'],
    rows: [{ epoch: -1, label: 'checkpoint-epoch-2', step: 0, values: [0.77, 0.4], numValidQueries: 60502 }],
  });
  assert.equal(beforeAfter(m), null, 'one report: no comparison');
  assert.equal(
    reportTable(apply(initialModel(), host(runMessage()))),
    null,
    'a training run shows its own evaluations',
  );
});

test('summary: throughput and ETA while running, duration when done', () => {
  const live = apply(initialModel(), host(runMessage(trainingRunEvents({ runDir: RUN_DIR, upToStep: 100 }), true)));
  const s = summary(live)!;
  assert.equal(s.backend, 'wasm');
  assert.equal(s.device, 'WebAssembly (1 thread, SIMD)');
  assert.equal(s.step, 100);
  assert.equal(s.totalSteps, 240);
  assert.ok(Math.abs(s.progress! - 100 / 240) < 1e-12);
  assert.ok(s.imagesPerSecond! > 10 && s.imagesPerSecond! < 12.5);
  assert.ok(Math.abs(s.etaSeconds! - (140 * 128) / 11.2) < 1e-6);
  const done = summary(apply(initialModel(), host(runMessage())))!;
  assert.equal(done.etaSeconds, undefined, 'no ETA once finished');
  assert.ok(done.seconds! > 0);
  assert.deepEqual(
    done.checkpoints.map((c) => c.name),
    ['checkpoint-epoch-1', 'checkpoint-epoch-2'],
  );
});

test('config rows flatten nested keys and keep values readable', () => {
  const rows = configRows({
    model_name: 'facebook/dinov2-small',
    column_mapping: { query_image: 'q', positive: 'p' },
    projection_dim: null,
    lora_target_modules: ['query', 'value'],
    empty: {},
  });
  assert.deepEqual(rows, [
    { key: 'model_name', value: 'facebook/dinov2-small' },
    { key: 'column_mapping.query_image', value: 'q' },
    { key: 'column_mapping.positive', value: 'p' },
    { key: 'projection_dim', value: 'null' },
    { key: 'lora_target_modules', value: '["query","value"]' },
    { key: 'empty', value: '{}' },
  ]);
});

test('gallery: filters by super class and failure at @1, pages of PAGE_SIZE', () => {
  const g = gallery(150);
  let m = apply(initialModel(), host(runMessage()), host({ type: 'gallery', gallery: g }), {
    type: 'selectTab',
    tab: 'queries',
  });
  let v = galleryView(m)!;
  assert.equal(v.totalQueries, 150);
  assert.equal(v.pages, Math.ceil(150 / PAGE_SIZE));
  assert.equal(v.cells.length, PAGE_SIZE);
  // Independent count: every query whose index is a multiple of 3 fails at @1.
  assert.equal(v.failedAt1, g.queries.filter((_, i) => i % 3 === 0).length);
  assert.deepEqual(v.superClasses, [
    { name: 'lamp', count: 75 },
    { name: 'mug', count: 75 },
  ]);

  m = apply(m, { type: 'page', page: 2 });
  v = galleryView(m)!;
  assert.equal(v.page, 2);
  assert.equal(v.cells.length, 150 - 2 * PAGE_SIZE);
  assert.equal(v.cells[0]!.position, 2 * PAGE_SIZE);

  m = apply(m, { type: 'filter', superClass: 'mug' }, { type: 'filter', failedOnly: true });
  v = galleryView(m)!;
  const expected = g.queries.map((_, i) => i).filter((i) => i % 2 === 1 && i % 3 === 0);
  assert.deepEqual(filteredQueries(m), expected);
  assert.equal(v.shown, expected.length);
  assert.equal(v.page, 0, 'a filter change goes back to the first page');
  assert.ok(v.cells.every((c) => c.superClass === 'mug' && c.failedAt1));
});

test('keyboard navigation through the grid and across pages', () => {
  const total = 150;
  const cols = 8;
  assert.equal(navigate(0, 'ArrowRight', cols, total), 1);
  assert.equal(navigate(0, 'ArrowLeft', cols, total), 0, 'stays at the very first cell');
  assert.equal(
    navigate(PAGE_SIZE - 1, 'ArrowRight', cols, total),
    PAGE_SIZE,
    'right from the last cell of a page goes to the next page',
  );
  assert.equal(navigate(PAGE_SIZE, 'ArrowLeft', cols, total), PAGE_SIZE - 1);
  assert.equal(navigate(3, 'ArrowDown', cols, total), 3 + cols);
  assert.equal(navigate(3, 'ArrowUp', cols, total), 3, 'no row above');
  // Page 0 holds 60 cells in rows of 8: the last row (56..59) is short; down from 53 (no cell below) lands on its last
  // cell.
  assert.equal(navigate(50, 'ArrowDown', cols, total), 58);
  assert.equal(navigate(53, 'ArrowDown', cols, total), 59);
  assert.equal(navigate(57, 'ArrowDown', cols, total), 57, 'already on the last row');
  assert.equal(navigate(13, 'Home', cols, total), 0);
  assert.equal(navigate(13, 'End', cols, total), PAGE_SIZE - 1);
  assert.equal(navigate(13, 'PageDown', cols, total), PAGE_SIZE + 13);
  assert.equal(navigate(PAGE_SIZE + 13, 'PageDown', cols, total), Math.min(total - 1, 2 * PAGE_SIZE + 13));
  assert.equal(navigate(2 * PAGE_SIZE + 5, 'PageDown', cols, total), 2 * PAGE_SIZE + 5, 'no page after the last');
  assert.equal(navigate(PAGE_SIZE + 13, 'PageUp', cols, total), 13);

  let m = apply(initialModel(), host({ type: 'gallery', gallery: gallery(150) }));
  m = apply(m, { type: 'focusCell', position: PAGE_SIZE - 1 }, { type: 'navigate', key: 'ArrowRight', columns: cols });
  assert.equal(m.ui.focus, PAGE_SIZE);
  assert.equal(m.ui.page, 1, 'the page follows the focus');
});

test('opening a query shows its neighbours; Escape (closeQuery) keeps the focus', () => {
  const g = gallery(20);
  let m = apply(
    initialModel(),
    host({ type: 'gallery', gallery: g }),
    { type: 'filter', superClass: 'mug' },
    { type: 'focusCell', position: 2 },
    { type: 'openQuery' },
  );
  const q = filteredQueries(m)[2]!;
  assert.equal(m.ui.openQuery, q);
  const view = openQueryView(m)!;
  assert.equal(view.status, 'ready');
  assert.deepEqual(
    view.items.map((i) => [i.rank, i.score, i.same]),
    g.queries[q]!.neighbours!.map((n, i) => [i + 1, n.score, n.same]),
  );
  assert.deepEqual(view.items[0]!.open, { type: 'openImage', image: g.queries[q]!.neighbours![0]!.image });
  m = reduce(m, { type: 'closeQuery' });
  assert.equal(m.ui.openQuery, null);
  assert.equal(m.ui.focus, 2);
});

test('what the page asks the host for: visible thumbnails once, neighbours of a lazy gallery', () => {
  const g = gallery(150, false);
  let m = apply(initialModel(), host({ type: 'gallery', gallery: g }));
  const asked = { thumbnails: new Set<number>(), neighbours: new Set<number>() };
  assert.deepEqual(wantedResources(m, asked).thumbnails, [], 'nothing while the Queries tab is not shown');
  m = reduce(m, { type: 'selectTab', tab: 'queries' });
  let want = wantedResources(m, asked);
  assert.deepEqual(
    want.thumbnails,
    Array.from({ length: PAGE_SIZE }, (_, i) => i),
  );
  want.thumbnails.forEach((i) => asked.thumbnails.add(i));
  assert.deepEqual(wantedResources(m, asked).thumbnails, [], 'not asked twice');

  m = apply(m, { type: 'openQuery', position: 4 });
  want = wantedResources(m, asked);
  assert.equal(want.neighbours, 4);
  assert.equal(openQueryView(m)!.status, 'loading');
  asked.neighbours.add(4);
  m = reduce(m, host({ type: 'neighbours', query: 4, neighbours: [{ image: 140, score: 0.9, same: false }] }));
  want = wantedResources(m, asked);
  assert.equal(want.neighbours, null);
  assert.deepEqual(want.thumbnails, [140], 'the neighbour on another page needs its thumbnail');
  m = reduce(m, host({ type: 'thumbnails', uris: { '140': 'https://file+.vscode-resource/t/140.webp', '3': null } }));
  assert.equal(openQueryView(m)!.items[0]!.thumbnail, 'https://file+.vscode-resource/t/140.webp');
  assert.equal(galleryView(m)!.cells[3]!.thumbnail, null, 'null: the image could not be read');
});

test('saved state restores the view; garbage in saved state is ignored', () => {
  let m = apply(
    initialModel(),
    host(runMessage()),
    host({ type: 'gallery', gallery: gallery(150) }),
    { type: 'selectTab', tab: 'queries' },
    { type: 'filter', superClass: 'lamp' },
    { type: 'focusCell', position: 61 },
    { type: 'openQuery' },
  );
  const saved = JSON.parse(JSON.stringify(persistedState(m)));
  assert.equal(saved.runDir, RUN_DIR);
  const restored = apply(initialModel(saved), host(runMessage()), host({ type: 'gallery', gallery: gallery(150) }));
  assert.deepEqual(restored.ui, m.ui);
  assert.equal(openQueryView(restored)!.title, openQueryView(m)!.title);

  const junk = initialModel({
    runDir: RUN_DIR,
    ui: { tab: 'nonsense', page: -3, focus: 1.5, openQuery: 'x', superClass: 7 } as never,
  });
  assert.deepEqual(junk.ui, initialModel().ui);

  // Another run replaces the gallery and resets the view.
  m = reduce(m, host({ ...runMessage(), runDir: '/runs/other' }));
  assert.equal(m.gallery, null);
  assert.equal(m.ui.openQuery, null);
  assert.equal(m.ui.tab, 'queries', 'the tab stays');
});

test('search: results of an older request are dropped, results from the host are shown', () => {
  let m = apply(initialModel(), {
    type: 'searchStarted',
    requestId: 'page-1',
    name: 'a.jpg',
    preview: 'data:image/png;base64,AAAA',
  });
  assert.equal(searchView(m)!.status, 'loading');
  m = apply(m, { type: 'searchStarted', requestId: 'page-2', name: 'b.jpg' });
  m = reduce(
    m,
    host({
      type: 'searchResult',
      requestId: 'page-1',
      query: { name: 'a.jpg' },
      hits: [{ path: '/x/1.jpg', score: 0.9 }],
    }),
  );
  assert.equal(m.search!.requestId, 'page-2', 'stale result ignored');
  m = reduce(
    m,
    host({
      type: 'searchResult',
      requestId: 'page-2',
      query: { name: 'b.jpg' },
      hits: [{ path: '/x/2.jpg', score: 0.8, label: 5 }],
    }),
  );
  const v = searchView(m)!;
  assert.equal(v.status, 'ready');
  assert.deepEqual(
    v.items.map((i) => [i.rank, i.name, i.score, i.same, i.label]),
    [[1, '2.jpg', 0.8, undefined, 5]],
  );
  assert.deepEqual(v.items[0]!.open, { type: 'openSearchHit', requestId: 'page-2', index: 0 });
  m = reduce(m, host({ type: 'searchFailed', requestId: 'page-2', message: 'no index' }));
  assert.equal(searchView(m)!.status, 'failed');
  m = reduce(
    m,
    host({ type: 'searchResult', requestId: 'host-1', query: { name: 'c.jpg', thumbnail: 'u' }, hits: [] }),
  );
  assert.equal(searchView(m)!.query.thumbnail, 'u');
});

test('formatting', () => {
  assert.equal(percent(0.5501), '55.01%');
  assert.equal(percent(undefined), '–');
  assert.equal(points(0.2948), '+29.48');
  assert.equal(points(-0.001), '-0.10');
  assert.equal(points(0.00001), '0.00');
  assert.equal(duration(42), '42s');
  assert.equal(duration(185), '3m 05s');
  assert.equal(duration(3720), '1h 02m');
  assert.equal(duration(3 * 86400 + 7200), '3d 2h');
});

test('batch composition: only for m_per_product, with the schema defaults for keys the config leaves out', () => {
  assert.equal(batchComposition(undefined), null);
  assert.equal(batchComposition({ batch_sampler: 'random', images_per_product: 8 }), null);
  const b = batchComposition({ batch_sampler: 'm_per_product', batch_size: 32 })!;
  assert.deepEqual(
    { m: b.imagesPerProduct, group: b.groupBySuperLabel, hard: b.hardNegativeMining, batch: b.batchSize },
    { m: 4, group: true, hard: false, batch: 32 },
  );
  assert.equal(
    b.text,
    'Batches: m_per_product, 4 image pair(s) per product (8 products per batch of 32); products of one super class ' +
      'together (group_by_super_label: true); hard_negative_mining: off.',
  );
});

test('the Data health tab is restored from saved state; a new run drops the previous report', () => {
  assert.equal(initialModel({ ui: { ...initialModel().ui, tab: 'data' } }).ui.tab, 'data');
  const report = {
    images: { train: 2, test: 1 },
    products: { train: 1, test: 1 },
    singleImageProducts: [],
    samePath: [],
    sameContent: [],
    productsInBothSplits: [],
    unreadable: [],
  };
  let m = reduce(initialModel(), {
    type: 'host',
    message: { type: 'dataHealth', health: { file: '/r/data-health.json', report, leakage: false, images: [] } },
  });
  assert.equal(m.dataHealth?.file, '/r/data-health.json');
  m = reduce(m, {
    type: 'host',
    message: { type: 'run', runDir: '/other', title: 'other', live: false, state: foldRun([]), problems: [] },
  });
  assert.equal(m.dataHealth, null);
  m = reduce(m, {
    type: 'host',
    message: { type: 'dataHealth', health: null, reason: 'No data-health.json in /other.' },
  });
  assert.equal(m.dataHealthReason, 'No data-health.json in /other.');
});
