/**
 * The results panel's page in real headless Chromium, under the same
 * Content-Security-Policy as in VS Code, talking to a real PanelSession over
 * the stand-in webview bridge (see ./pageHarness.ts). Screenshots go to
 * .test-output/webview/ (light and dark) and the README's to media/screenshots/.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { PanelSession, type LiveRunSource } from '../../src/extension/panel/panelSession';
import type { SearchImageRequest } from '../../src/extension/panel/panelSearch';
import { makeEvent, type EngineEvent } from '../../src/shared/protocol';
import { initialRunState, reduceRun, type RunState } from '../../src/shared/runState';
import { duration } from '../../webview-ui/src/format';
import { PAGE_SIZE } from '../../webview-ui/src/state';
import { writeGalleryFixture, type GalleryFixture } from './fixtures/galleryFixture';
import { reportJson, trainingRunEvents } from './fixtures/runFixture';
import {
  connectPanel,
  buildPage,
  launch,
  pageRecords,
  startServer,
  type BrowserSession,
  type PageServer,
} from './pageHarness';

const repo = path.resolve(__dirname, '../..');
const artifacts = path.join(repo, '.test-output', 'webview');
// The README's screenshots are refreshed only on request, so a test run never edits committed files.
const readmeShots = path.join(repo, 'media', 'screenshots');
const updateReadmeShots = process.env.VEMBED_UPDATE_SCREENSHOTS === '1';

let tmp: string;
let server: PageServer;
let chromium: BrowserSession;
let fixture: GalleryFixture;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-panel-page-'));
  const dist = path.join(tmp, 'dist');
  await buildPage(dist);
  fixture = await writeGalleryFixture(tmp, { runName: 'output_sop_dinov2_i2i' });
  const events = trainingRunEvents({ runDir: fixture.runDir });
  fs.writeFileSync(path.join(fixture.runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  for (const ep of [0, 1, 2])
    fs.writeFileSync(path.join(fixture.runDir, `eval-epoch-${ep}.json`), JSON.stringify(reportJson(ep)));
  server = await startServer(dist, [tmp]);
  chromium = await launch();
  fs.mkdirSync(artifacts, { recursive: true });
  if (updateReadmeShots) fs.mkdirSync(readmeShots, { recursive: true });
});

after(async () => {
  await chromium?.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A run fed by the test, event by event, as an engine process would. */
class RecordedRun extends EventEmitter implements LiveRunSource {
  state: RunState = initialRunState();
  readonly exited: Promise<{ state: RunState }>;
  private finish!: (e: { state: RunState }) => void;
  constructor() {
    super();
    this.exited = new Promise((resolve) => (this.finish = resolve));
  }
  feed(events: EngineEvent[]): void {
    for (const e of events) {
      this.state = reduceRun(this.state, e);
      this.emit('event', e, this.state);
    }
  }
  end(): void {
    this.finish({ state: this.state });
  }
}

interface Panel {
  page: Page;
  session: PanelSession;
  opened: string[];
  searches: SearchImageRequest[];
  consoleErrors: string[];
}

async function openPanel(theme: 'light' | 'dark', viewport = { width: 1180, height: 900 }): Promise<Panel> {
  const page = await chromium.context.newPage();
  await page.setViewportSize(viewport);
  const searches: SearchImageRequest[] = [];
  const { session, opened, errors } = await connectPanel(page, server, tmp, {
    theme,
    // The engine's search, standing in: the gallery images 5, 0 and 9, best first.
    searchImage: async (req) => {
      searches.push(req);
      return [5, 0, 9].map((i, r) => ({
        path: path.join(fixture.imageRoot, fixture.images[i]!.path),
        score: 0.91 - r * 0.07,
      }));
    },
  });
  return { page, session, opened, searches, consoleErrors: errors };
}

/** No CSP violation, no uncaught error, nothing logged as an error. */
async function assertClean(p: Panel): Promise<void> {
  const r = await pageRecords(p.page);
  assert.deepEqual(r.violations, [], 'CSP violations');
  assert.deepEqual(r.errors, [], 'uncaught errors');
  assert.deepEqual(p.consoleErrors, [], 'console errors');
}

async function close(p: Panel): Promise<void> {
  p.session.dispose();
  await p.page.close();
}

async function facts(page: Page): Promise<Record<string, string>> {
  return page.$$eval('#run-facts .fact', (els) =>
    Object.fromEntries(els.map((e) => [(e as HTMLElement).dataset.fact!, e.querySelector('dd')!.textContent!])),
  );
}

async function tableRows(page: Page, id: string): Promise<string[][]> {
  return page.$$eval(`#${id} vscode-table-body vscode-table-row`, (rows) =>
    rows.map((r) => [...r.querySelectorAll('vscode-table-cell')].map((c) => c.textContent!.trim())),
  );
}

async function chart(
  page: Page,
  id: string,
): Promise<{ points: number; firstX: string; lastX: string; last: string[] }> {
  return page.$eval(`#${id}`, (e) => {
    const d = (e as HTMLElement).dataset;
    return { points: Number(d.points), firstX: d.firstX!, lastX: d.lastX!, last: d.last!.split(',') };
  });
}

async function selectTab(page: Page, tab: string): Promise<void> {
  await page.click(`vscode-tab-header[data-tab=${tab}]`);
  await page.waitForSelector(`body[data-tab=${tab}]`);
}

async function shot(page: Page, name: string, readme?: string): Promise<void> {
  await page.waitForTimeout(150); // let the last frame paint
  await page.screenshot({ path: path.join(artifacts, name) });
  if (readme && updateReadmeShots) fs.copyFileSync(path.join(artifacts, name), path.join(readmeShots, readme));
}

test('a live run: curves grow as events arrive, header shows throughput, ETA, backend and device', async () => {
  const p = await openPanel('dark');
  const liveDir = path.join(tmp, 'output_sop_dinov2_i2i_live');
  fs.mkdirSync(liveDir, { recursive: true });
  const events = trainingRunEvents({ runDir: liveDir });
  const run = new RecordedRun();
  const firstStep = events.findIndex((e) => e.type === 'step');
  run.feed(events.slice(0, firstStep + 60));
  await p.session.openRun(liveDir, run);
  await p.page.waitForSelector('#chart-loss[data-points="60"]');
  // Then forty more steps, one event at a time.
  for (const e of events.slice(firstStep + 60, firstStep + 100)) run.feed([e]);
  await p.page.waitForSelector('#chart-loss[data-points="100"]');

  const loss = await chart(p.page, 'chart-loss');
  assert.deepEqual([loss.firstX, loss.lastX], ['1', '100']);
  const step100 = events[firstStep + 99]! as Extract<EngineEvent, { type: 'step' }>;
  assert.equal(Number(loss.last[0]), step100.loss);
  assert.equal((await chart(p.page, 'chart-lr')).points, 100);
  assert.equal((await chart(p.page, 'chart-recall')).points, 1, 'epoch 0 only, before training');
  const f = await facts(p.page);
  assert.equal(f.backend, 'wasm');
  assert.equal(f.device, 'WebAssembly (1 thread, SIMD)');
  assert.equal(f.step, '100 / 240');
  assert.equal(f.epoch, '1 / 2');
  assert.equal(f.throughput, `${step100.imagesPerSecond!.toFixed(1)} img/s`);
  assert.equal(f.eta, duration(step100.etaSeconds));
  assert.equal(await p.page.textContent('#run-status'), 'live');
  assert.equal(await p.page.$eval('#run-progress', (e) => (e as HTMLElement & { value: number }).value), 100 / 240);
  assert.equal(await p.page.isVisible('#before-after'), false, 'no comparison before an epoch is evaluated');
  assert.equal(await p.page.getAttribute('#chart-lr', 'data-colors'), '#b180d7', 'Dark+ charts.purple');
  await shot(p.page, 'live-dark.png', 'panel-live.png');

  // The theme switches: charts are redrawn in the new colours, data unchanged.
  await p.page.evaluate(() => (window as unknown as { __setTheme(k: string): void }).__setTheme('light'));
  await p.page.waitForFunction(() => getComputedStyle(document.body).backgroundColor === 'rgb(255, 255, 255)');
  assert.equal((await chart(p.page, 'chart-loss')).points, 100);
  assert.equal(await p.page.$$eval('#chart-loss canvas', (c) => c.length), 1);
  await p.page.waitForSelector('#chart-lr[data-colors="#652d90"]'); // Light+ charts.purple
  assert.equal(await p.page.getAttribute('#chart-recall', 'data-colors'), '#1a85ff #388a34 #d18616');
  await shot(p.page, 'live-light.png', 'panel-live-light.png');

  // The rest of the run, then the engine exits: the panel shows the finished run.
  run.feed(events.slice(firstStep + 100));
  run.end();
  await p.page.waitForSelector('#run-status:text("completed")');
  await p.page.waitForSelector('#chart-loss[data-points="240"]');
  assert.equal((await chart(p.page, 'chart-recall')).points, 3);
  assert.equal(await p.page.isVisible('#run-progress'), false);
  await assertClean(p);
  await close(p);
});

test('a long run stays within the chart budget', async () => {
  const p = await openPanel('dark');
  const run = new RecordedRun();
  run.feed([makeEvent({ type: 'run_started', command: 'train', backend: 'wasm', device: 'x', totalSteps: 12000 })]);
  await p.session.openRun(path.join(tmp, 'long'), run);
  for (let b = 0; b < 6; b++) {
    run.feed(
      Array.from({ length: 2000 }, (_, i) =>
        makeEvent({ type: 'step', step: b * 2000 + i + 1, epoch: 1, loss: 4 / Math.sqrt(b * 2000 + i + 1), lr: 1e-4 }),
      ),
    );
    await new Promise((r) => setTimeout(r, 25));
  }
  await p.page.waitForSelector('#chart-loss[data-last-x="12000"]');
  const c = await chart(p.page, 'chart-loss');
  assert.ok(c.points <= 4000 && c.points >= 1000, `${c.points} points drawn`);
  await assertClean(p);
  await close(p);
});

test('a finished run: Recall@K per epoch, before/after, checkpoints and config', async () => {
  const p = await openPanel('light', { width: 1180, height: 1220 });
  await p.session.openRun(fixture.runDir);
  await p.page.waitForSelector('#comparison');
  assert.equal(await p.page.textContent('#run-title'), 'output_sop_dinov2_i2i');
  assert.equal(await p.page.textContent('#run-status'), 'completed');
  assert.deepEqual(await tableRows(p.page, 'comparison'), [
    ['Recall@1', '55.01%', '77.48%', '+22.47'],
    ['Recall@10', '71.09%', '90.41%', '+19.32'],
    ['Recall@100', '84.37%', '96.23%', '+11.86'],
    ['Recall@1000', '97.00%', '99.00%', '+2.00'],
    ['MAP@R', '27.12%', '44.86%', '+17.74'],
  ]);
  assert.deepEqual(await tableRows(p.page, 'evaluations'), [
    ['before training', '55.01%', '71.09%', '84.37%', '27.12%', '60502'],
    ['epoch 1', '73.12%', '88.06%', '95.11%', '41.05%', '60502'],
    ['epoch 2', '77.48%', '90.41%', '96.23%', '44.86%', '60502'],
  ]);
  const recall = await chart(p.page, 'chart-recall');
  assert.equal(recall.points, 3);
  assert.deepEqual(
    recall.last.map(Number).map((v) => Math.round(v * 100) / 100),
    [77.48, 90.41, 96.23],
  );
  assert.equal((await chart(p.page, 'chart-loss')).points, 240);
  assert.deepEqual(
    (await tableRows(p.page, 'checkpoint-list')).map((r) => r.slice(0, 2)),
    [
      ['checkpoint-epoch-1', 'epoch'],
      ['checkpoint-epoch-2', 'final'],
    ],
  );
  const config = Object.fromEntries(await tableRows(p.page, 'config-values'));
  assert.equal(config.model_name, 'facebook/dinov2-small');
  assert.equal(config['column_mapping.query_image'], 'query_image');
  assert.equal(config.learning_rate, '0.00005');
  const finished = trainingRunEvents({ runDir: fixture.runDir }).find((e) => e.type === 'finished') as Extract<
    EngineEvent,
    { type: 'finished' }
  >;
  assert.equal((await facts(p.page)).took, duration(finished.seconds));
  await shot(p.page, 'finished-light.png', 'panel-finished.png');
  await p.page.evaluate(() => (window as unknown as { __setTheme(k: string): void }).__setTheme('dark'));
  await p.page.waitForFunction(() => getComputedStyle(document.body).backgroundColor === 'rgb(30, 30, 30)');
  await shot(p.page, 'finished-dark.png', 'panel-finished-dark.png');
  await assertClean(p);
  await close(p);
});

test('a benchmark folder: its report as a table, its queries browsable', async () => {
  const bench = path.join(tmp, 'benchmark-sop');
  fs.mkdirSync(bench, { recursive: true });
  for (const f of fs.readdirSync(fixture.runDir))
    if (!f.startsWith('eval-') && f !== 'events.jsonl')
      fs.copyFileSync(path.join(fixture.runDir, f), path.join(bench, f));
  const p = await openPanel('dark');
  await p.session.openRun(bench);
  await p.page.waitForSelector('#evaluations');
  assert.equal(await p.page.textContent('#recall-title'), 'Benchmark');
  const report = JSON.parse(fs.readFileSync(path.join(bench, 'sop_report.json'), 'utf8'));
  assert.deepEqual(await tableRows(p.page, 'evaluations'), [
    [
      'checkpoint-epoch-2',
      `${(report['recall@1'] * 100).toFixed(2)}%`,
      `${(report['recall@10'] * 100).toFixed(2)}%`,
      String(fixture.queries.length),
    ],
  ]);
  assert.equal(await p.page.isVisible('#chart-recall'), false);
  assert.equal(await p.page.isVisible('#curves'), false);
  assert.equal(await p.page.isVisible('#run-status'), false);
  assert.equal(await p.page.textContent('#run-facts'), 'No training events in this folder.');
  await selectTab(p.page, 'queries');
  await p.page.waitForFunction((n) => document.querySelectorAll('#gallery-grid .cell').length === n, PAGE_SIZE);
  await assertClean(p);
  await close(p);
});

test('queries: pages, super class and failure filters, neighbours, keyboard', async () => {
  const p = await openPanel('dark');
  await p.session.openRun(fixture.runDir);
  await p.page.waitForSelector('#comparison');
  await selectTab(p.page, 'queries');
  await p.page.waitForFunction(
    (n) =>
      document.querySelectorAll('#gallery-grid img.thumb').length === n &&
      [...document.querySelectorAll<HTMLImageElement>('#gallery-grid img.thumb')].every(
        (i) => i.complete && i.naturalWidth > 0,
      ),
    PAGE_SIZE,
  );
  const failed = fixture.queries.filter((q) => q.firstCorrectRank !== 1).length;
  assert.equal(
    await p.page.textContent('#gallery-count'),
    `108 of 108 queries · ${failed} (${((100 * failed) / 108).toFixed(1)}%) failed at @1`,
  );
  assert.equal(await p.page.textContent('#page-label'), 'Page 1 of 2');
  await p.page.click('#next-page');
  await p.page.waitForSelector('#page-label:text("Page 2 of 2")');
  assert.equal(await p.page.$$eval('#gallery-grid .cell', (c) => c.length), 108 - PAGE_SIZE);

  // Super class filter, through the dropdown as a user would.
  await p.page.click('#superclass-filter');
  await p.page.click('#superclass-filter .option:has-text("mug (18)")');
  await p.page.waitForFunction(() => document.querySelectorAll('#gallery-grid .cell').length === 18);
  assert.deepEqual(
    new Set(await p.page.$$eval('#gallery-grid .cell', (c) => c.map((e) => (e as HTMLElement).dataset.superClass))),
    new Set(['mug']),
  );
  assert.equal(await p.page.textContent('#page-label'), 'Page 1 of 1');

  // Failed at @1 only.
  const mugFailures = fixture.queries.filter(
    (q) => fixture.images[q.image]!.superClass === 'mug' && q.firstCorrectRank !== 1,
  );
  await p.page.click('#failed-filter');
  await p.page.waitForFunction(
    (n) => document.querySelectorAll('#gallery-grid .cell').length === n,
    mugFailures.length,
  );
  const ranks = await p.page.$$eval('#gallery-grid .cell', (c) =>
    c.map((e) => (e as HTMLElement).dataset.firstCorrectRank),
  );
  assert.deepEqual(
    ranks,
    mugFailures.map((q) => (q.firstCorrectRank === null ? 'none' : String(q.firstCorrectRank))),
  );

  // Click a query: its neighbours, same product or not, with the rank of the first correct one.
  await p.page.click('#gallery-grid .cell >> nth=0');
  await p.page.waitForSelector('#query-detail .nv-item');
  const q = mugFailures[0]!;
  const items = await p.page.$$eval('#query-detail .nv-item', (els) =>
    els.map((e) => ({
      rank: Number((e as HTMLElement).dataset.rank),
      score: Number((e as HTMLElement).dataset.score),
      same: (e as HTMLElement).dataset.same,
      path: (e as HTMLElement).dataset.path,
    })),
  );
  assert.deepEqual(
    items,
    q.neighbours.map(([img, score], i) => ({
      rank: i + 1,
      score,
      same: String(fixture.images[img]!.label === fixture.images[q.image]!.label),
      path: fixture.images[img]!.path,
    })),
  );
  assert.equal(
    await p.page.getAttribute('#query-detail .nv-rank', 'data-first-correct-rank'),
    q.firstCorrectRank === null ? 'none' : String(q.firstCorrectRank),
  );
  assert.equal(await p.page.isVisible('#gallery-grid'), false);
  await p.page.waitForFunction(() =>
    [...document.querySelectorAll<HTMLImageElement>('#query-detail img')].every(
      (i) => i.complete && i.naturalWidth > 0,
    ),
  );
  await shot(p.page, 'query-dark.png', 'panel-query.png');
  // Enter on a neighbour asks the extension to open it.
  await p.page.focus('#query-detail .nv-item-button >> nth=1');
  await p.page.keyboard.press('Enter');
  await waitFor(() => p.opened.length === 1, 'openImage');
  assert.equal(p.opened[0], path.join(fixture.imageRoot, fixture.images[q.neighbours[1]![0]]!.path));

  // Escape closes and gives the focus back to the cell.
  await p.page.keyboard.press('Escape');
  await p.page.waitForSelector('#gallery-grid', { state: 'visible' });
  assert.equal(await p.page.evaluate(() => (document.activeElement as HTMLElement).dataset.position), '0');

  // Arrow keys through the grid (all mugs again), Enter opens, Escape returns.
  await p.page.click('#failed-filter');
  await p.page.waitForFunction(() => document.querySelectorAll('#gallery-grid .cell').length === 18);
  await p.page.focus('#gallery-grid .cell[tabindex="0"]');
  const columns = await p.page.$eval('#gallery-grid', (g) => getComputedStyle(g).gridTemplateColumns.split(' ').length);
  assert.ok(columns > 1, `${columns} columns`);
  await p.page.keyboard.press('ArrowRight');
  assert.equal(await p.page.evaluate(() => (document.activeElement as HTMLElement).dataset.position), '1');
  await p.page.keyboard.press('ArrowDown');
  assert.equal(
    await p.page.evaluate(() => (document.activeElement as HTMLElement).dataset.position),
    String(1 + columns),
  );
  assert.equal(
    await p.page.$$eval('#gallery-grid .cell[tabindex="0"]', (c) => c.length),
    1,
    'one tab stop in the grid',
  );
  await p.page.keyboard.press('End');
  assert.equal(await p.page.evaluate(() => (document.activeElement as HTMLElement).dataset.position), '17');
  await p.page.keyboard.press('Home');
  await p.page.keyboard.press('ArrowRight');
  await p.page.keyboard.press('Enter');
  await p.page.waitForSelector('#query-detail .nv-item');
  const mugs = fixture.queries.filter((x) => fixture.images[x.image]!.superClass === 'mug');
  assert.equal(
    await p.page.textContent('#query-detail .nv-title'),
    `Query ${path.basename(fixture.images[mugs[1]!.image]!.path)}`,
  );
  await p.page.keyboard.press('Escape');
  await p.page.waitForSelector('#gallery-grid', { state: 'visible' });
  assert.equal(await p.page.evaluate(() => (document.activeElement as HTMLElement).dataset.position), '1');
  await assertClean(p);
  await close(p);
});

test('a reloaded page comes back with its tab, filter, page and open query', async () => {
  const p = await openPanel('dark');
  await p.session.openRun(fixture.runDir);
  await p.page.waitForSelector('#comparison');
  await selectTab(p.page, 'queries');
  await p.page.click('#superclass-filter');
  await p.page.click('#superclass-filter .option:has-text("lamp (18)")');
  await p.page.waitForFunction(() => document.querySelectorAll('#gallery-grid .cell').length === 18);
  await p.page.click('#gallery-grid .cell >> nth=4');
  await p.page.waitForSelector('#query-detail .nv-item');
  const title = await p.page.textContent('#query-detail .nv-title');
  // VS Code drops a hidden panel's page and loads it again when shown.
  p.session.pageGone();
  await p.page.reload();
  await p.page.waitForSelector('#query-detail .nv-item');
  assert.equal(await p.page.getAttribute('body', 'data-tab'), 'queries');
  assert.equal(await p.page.textContent('#query-detail .nv-title'), title);
  assert.equal(await p.page.$eval('#superclass-filter', (e) => (e as HTMLElement & { value: string }).value), 'lamp');
  await p.page.keyboard.press('Escape');
  await p.page.waitForFunction(() => document.querySelectorAll('#gallery-grid .cell').length === 18);
  await assertClean(p);
  await close(p);
});

test('search by image: pick or drop a file, the answer shows with the neighbour view', async () => {
  const p = await openPanel('light');
  await p.session.openRun(fixture.runDir);
  await p.page.waitForSelector('#comparison');
  await selectTab(p.page, 'search');
  const file = path.join(fixture.imageRoot, fixture.images[2]!.path);
  const bytes = fs.readFileSync(file);

  await p.page.setInputFiles('#search-file', file);
  await p.page.waitForSelector('#search-results .nv-item');
  let posted = (await pageRecords(p.page)).posted.filter((m) => m.type === 'searchImage');
  assert.equal(posted.length, 1);
  assert.deepEqual(posted[0]!.source, { kind: 'bytes', mime: 'image/png', base64: bytes.toString('base64') });
  assert.equal(posted[0]!.name, path.basename(file));
  assert.deepEqual(
    fs.readFileSync(p.searches[0]!.imagePath),
    bytes,
    'the extension wrote the same bytes for the engine',
  );
  assert.equal(p.searches[0]!.topK, 6);
  assert.deepEqual(
    await p.page.$$eval('#search-results .nv-item', (els) => els.map((e) => (e as HTMLElement).dataset.rank)),
    ['1', '2', '3'],
  );
  assert.match((await p.page.getAttribute('#search-results .nv-query-thumb', 'src'))!, /^data:image\/png;base64,/);
  await p.page.waitForFunction(() =>
    [...document.querySelectorAll<HTMLImageElement>('#search-results img')].every(
      (i) => i.complete && i.naturalWidth > 0,
    ),
  );
  await shot(p.page, 'search-light.png', 'panel-search.png');

  // Dropped from the OS: a File in the DataTransfer.
  await p.page.evaluate((b64) => {
    const dt = new DataTransfer();
    dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'dropped.png', { type: 'image/png' }));
    document
      .getElementById('drop-zone')!
      .dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes.toString('base64'));
  await waitFor(() => p.searches.length === 2, 'second search');
  // Dropped from VS Code's explorer: a file URI.
  const uri = pathToFileURL(path.join(fixture.imageRoot, fixture.images[7]!.path)).href;
  await p.page.evaluate((u) => {
    const dt = new DataTransfer();
    dt.setData('text/uri-list', `# from the explorer\n${u}\n`);
    document
      .getElementById('drop-zone')!
      .dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, uri);
  await waitFor(() => p.searches.length === 3, 'third search');
  posted = (await pageRecords(p.page)).posted.filter((m) => m.type === 'searchImage');
  assert.equal(posted[1]!.name, 'dropped.png');
  assert.deepEqual(posted[2]!.source, { kind: 'uri', uri });
  assert.equal(p.searches[2]!.imagePath, path.join(fixture.imageRoot, fixture.images[7]!.path));
  await p.page.waitForFunction(
    (name) => document.querySelector('#search-results .nv-title')?.textContent === `Images nearest to ${name}`,
    path.basename(fixture.images[7]!.path),
  );

  // Not an image: said on the page, nothing sent.
  await p.page.setInputFiles('#search-file', {
    name: 'notes.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('hello'),
  });
  await p.page.waitForSelector('#search-results .alert.error');
  assert.match((await p.page.textContent('#search-results .alert.error'))!, /notes\.txt is not an image/);
  assert.equal((await pageRecords(p.page)).posted.filter((m) => m.type === 'searchImage').length, 3);

  // Opening a hit goes through the extension by request and index, never by path.
  await p.session.handle({ type: 'openSearchHit', requestId: String(posted[2]!.requestId), index: 0 });
  assert.deepEqual(p.opened, [path.join(fixture.imageRoot, fixture.images[5]!.path)]);
  await assertClean(p);
  await close(p);
});

async function waitFor(cond: () => boolean, what: string, ms = 10000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
