// The compare page (vembed: Compare Runs) in headless Chromium with the extension's HTML and CSP: fed the
// comparison src/shared/runs/compare.ts makes of two run folders written from the project's generated run
// fixture (different epochs and learning rates), it draws one line per run in each chart, in the theme's
// chart colours, and tables the final metrics and the differing config keys; no CSP violation, no error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { serializeEvent } from '../../src/shared/protocol';
import { compareRuns, type CompareHostMessage } from '../../src/shared/runs/compare';
import { EVENTS_FILE } from '../../src/shared/runs/runFolder';
import { readRunSummary } from '../../src/shared/runs/summary';
import { RESOLVED_CONFIG, trainingRunEvents } from './fixtures/runFixture';
import { buildPage, launch, pageRecords, startServer, type BrowserSession, type PageServer } from './pageHarness';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-compare-page-'));
let server: PageServer;
let chromium: BrowserSession;

before(async () => {
  const dist = path.join(tmp, 'dist');
  await buildPage(dist);
  server = await startServer(dist, [tmp]);
  chromium = await launch();
});
after(async () => {
  await chromium?.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A run folder from the generated fixture, its config changed by `config`. */
function fixtureRun(name: string, epochs: number, config: Record<string, unknown>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const events = trainingRunEvents({ runDir: dir, stepsPerEpoch: 12, epochs }).map((e) =>
    e.type === 'run_started' ? { ...e, config: { ...RESOLVED_CONFIG, epochs, ...config, output_dir: dir } } : e,
  );
  fs.writeFileSync(path.join(dir, EVENTS_FILE), events.map(serializeEvent).join('\n') + '\n');
  return dir;
}

async function dataset(page: Page, selector: string): Promise<Record<string, string>> {
  return page.$eval(selector, (e) => ({ ...(e as HTMLElement).dataset }) as Record<string, string>);
}

test('two runs: both curves drawn in theme colours, metrics before -> after, the differing keys', async () => {
  const a = readRunSummary(fixtureRun('lr-5e-5', 2, { learning_rate: 5e-5 }))!;
  const b = readRunSummary(
    fixtureRun('lr-1e-4', 3, { learning_rate: 1e-4, column_mapping: { query_image: 'q', positive: 'positive' } }),
  )!;
  const comparison = compareRuns([a, b]);
  const page = await chromium.context.newPage();
  await page.goto(`${server.origin}/panel.html?page=compare&theme=dark`);
  await page.waitForFunction(() =>
    (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'),
  );
  const message: CompareHostMessage = { type: 'comparison', comparison };
  await page.evaluate((m) => window.postMessage(m, '*'), message);
  await page.waitForSelector('#compare-config-table');

  const loss = await dataset(page, '#compare-loss');
  assert.equal(loss.points, '3', 'epochs 1..3 on one axis');
  // Run a stopped at epoch 2: its line ends there (uPlot spans the gap), run b's at 3.
  assert.deepEqual(loss.last!.split(','), ['', String(b.lossPerEpoch[2]!.value)]);
  assert.deepEqual(loss.colors!.split(' '), ['#3794ff', '#89d185'], 'the theme palette: one colour per run');
  const recall = await dataset(page, '#compare-recall');
  assert.equal(recall.points, '4', 'epochs 0..3');
  assert.deepEqual(recall.last!.split(',').map(Number), ['', b.recall1PerEpoch[3]!.value * 100].map(Number));
  assert.ok(
    (await page.locator('#compare-loss canvas').count()) > 0 &&
      (await page.locator('#compare-recall canvas').count()) > 0,
  );

  const cells = (selector: string) =>
    page.$$eval(`${selector} vscode-table-row`, (rows) =>
      rows.map((r) => [...r.querySelectorAll('vscode-table-cell')].map((c) => (c.textContent ?? '').trim())),
    );
  const metrics = await cells('#compare-metrics-table');
  assert.deepEqual(metrics[0], ['Recall@1', '55.01% → 77.48%', '55.01% → 77.48%']);
  assert.deepEqual(await cells('#compare-config-table'), [
    ['column_mapping.query_image', 'query_image', 'q'],
    ['epochs', '2', '3'],
    ['learning_rate', '0.00005', '0.0001'],
  ]);
  const records = await pageRecords(page);
  assert.deepEqual(records.violations, [], 'no CSP violation');
  assert.deepEqual(records.errors, []);
  await page.close();
});
