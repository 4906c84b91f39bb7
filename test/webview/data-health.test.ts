/**
 * The Data health tab and the header's leakage warning in real headless
 * Chromium, under the panel's CSP, driven by a real PanelSession on a run
 * folder whose data-health.json the engine's check wrote (train and val images
 * with a planted copy of a training image in val, and a near-duplicate pair):
 * the numbers shown are the file's, the header warns of leakage, a click on a
 * listed image opens that file; a clean report shows no warning. The run's
 * m_per_product settings are shown beside the training curves.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { checkDataHealth, type HealthImage } from '../../src/engine/data/dataHealth';
import { PanelSession } from '../../src/extension/panel/panelSession';
import { DATA_HEALTH_FILE, type DataHealthReport } from '../../src/shared/artifacts/dataHealthFile';
import type { EngineEvent } from '../../src/shared/protocol';
import { trainingRunEvents } from './fixtures/runFixture';
import {
  connectPanel,
  buildPage,
  launch,
  pageRecords,
  startServer,
  type BrowserSession,
  type PageServer,
} from './pageHarness';

const artifacts = path.resolve(__dirname, '../..', '.test-output', 'webview');
let tmp: string;
let server: PageServer;
let chromium: BrowserSession;
let imageRoot: string;

async function image(rel: string, hue: number): Promise<void> {
  const file = path.join(imageRoot, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="hsl(${hue},60%,50%)"/><circle cx="32" cy="32" r="${10 + (hue % 20)}" fill="white"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
}

/** A run folder: events of a training run with `config` merged in, and the engine's data-health report. */
async function runFolder(
  name: string,
  images: HealthImage[],
  config: Record<string, unknown>,
  extra?: Partial<DataHealthReport>,
) {
  const runDir = path.join(tmp, name);
  fs.mkdirSync(runDir, { recursive: true });
  const events = trainingRunEvents({ runDir, stepsPerEpoch: 5, epochs: 1 }).map((e): EngineEvent =>
    e.type === 'run_started' ? { ...e, config: { ...e.config, ...config } } : e,
  );
  fs.writeFileSync(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const report = { ...(await checkDataHealth(images)), ...extra, imageRoots: { train: imageRoot, test: imageRoot } };
  fs.writeFileSync(path.join(runDir, DATA_HEALTH_FILE), JSON.stringify(report, null, 2));
  return runDir;
}

const listed = (rel: string, product: string, split: 'train' | 'test'): HealthImage => ({
  path: path.join(imageRoot, rel),
  shown: rel,
  product,
  split,
});

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-health-page-'));
  const dist = path.join(tmp, 'dist');
  await buildPage(dist);
  imageRoot = path.join(tmp, 'images');
  for (const [i, rel] of [
    'mug/1_0.png',
    'mug/1_1.png',
    'lamp/2_0.png',
    'lamp/3_0.png',
    'lamp/3_1.png',
    'sofa/7_0.png',
    'sofa/7_1.png',
  ].entries())
    await image(rel, i * 40);
  // The planted leak: a byte copy of a training image in the validation list.
  fs.copyFileSync(path.join(imageRoot, 'mug/1_0.png'), path.join(imageRoot, 'sofa/7_copy.png'));
  server = await startServer(dist, [tmp]);
  chromium = await launch();
});

after(async () => {
  await chromium?.close();
  await server?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function openPanel(): Promise<{ page: Page; session: PanelSession; opened: string[]; errors: string[] }> {
  const page = await chromium.context.newPage();
  await page.setViewportSize({ width: 1180, height: 900 });
  const { session, opened, errors } = await connectPanel(page, server, tmp);
  return { page, session, opened, errors };
}

async function counts(page: Page): Promise<Record<string, string>> {
  return page.$$eval('#health-counts [data-count]', (els) =>
    Object.fromEntries(els.map((e) => [(e as HTMLElement).dataset.count!, e.querySelector('dd')!.textContent!])),
  );
}

test("leakage: the numbers are the report file's, the header warns, a listed image opens its file", async () => {
  const runDir = await runFolder(
    'leaky-run',
    [
      listed('mug/1_0.png', '1', 'train'),
      listed('mug/1_1.png', '1', 'train'),
      listed('lamp/2_0.png', '2', 'train'), // a single-image product
      listed('lamp/3_0.png', '3', 'train'),
      listed('lamp/3_1.png', '3', 'train'),
      listed('sofa/7_0.png', '7', 'test'),
      listed('sofa/7_1.png', '7', 'test'),
      listed('sofa/7_copy.png', '7', 'test'),
      listed('lamp/3_1.png', '7', 'test'), // the same path in both splits, under another product
    ],
    { batch_sampler: 'm_per_product', images_per_product: 2, group_by_super_label: false, hard_negative_mining: true },
    {
      nearDuplicates: {
        model: 'facebook/dinov2-small',
        threshold: 0.95,
        pairs: [{ train: 'lamp/3_0.png', trainProduct: '3', test: 'sofa/7_1.png', testProduct: '7', cosine: 0.97314 }],
      },
    },
  );
  const { page, session, opened, errors } = await openPanel();
  await session.openRun(runDir);

  // The header says it whatever tab is open.
  await page.waitForSelector('#leakage-alert');
  const alert = (await page.textContent('#leakage-alert'))!;
  assert.match(alert, /^Train\/test leakage: 2 image\(s\) in both splits, 1 near-duplicate train\/test pair\(s\)\./);
  assert.ok(alert.includes(path.join(runDir, DATA_HEALTH_FILE)), alert);

  assert.equal(await page.textContent('vscode-tab-header[data-tab=data]'), 'Data health: leakage');
  // The numbers, against the file as written.
  const file = JSON.parse(fs.readFileSync(path.join(runDir, DATA_HEALTH_FILE), 'utf8')) as DataHealthReport;
  await page.click('vscode-tab-header[data-tab=data]');
  await page.waitForSelector('#health-counts');
  const groups = [...file.samePath, ...file.sameContent];
  const single = (s: string) => file.singleImageProducts.filter((p) => p.split === s).length;
  assert.deepEqual(await counts(page), {
    'train-images': `${file.images.train} / ${file.products.train}`,
    'test-images': `${file.images.test} / ${file.products.test}`,
    'single-image-products': `${file.singleImageProducts.length} (train ${single('train')}, test ${single('test')})`,
    'images-under-two-products': String(groups.filter((g) => g.crossProduct && !g.crossSplit).length),
    'images-in-both-splits': String(groups.filter((g) => g.crossSplit).length),
    'products-in-both-splits': String(file.productsInBothSplits.length),
    'near-duplicates': `${file.nearDuplicates!.pairs.length} (cosine ≥ 0.95, facebook/dinov2-small)`,
  });
  // And what they are in this planted set, so a wrong file cannot pass unnoticed.
  assert.deepEqual([file.images.train, file.images.test, file.singleImageProducts.length], [5, 4, 1]);
  assert.equal(groups.filter((g) => g.crossSplit).length, 2);
  assert.equal(await page.getAttribute('#health-verdict', 'data-leakage'), '');
  const nearRow = (await page.textContent('#health-near-duplicates'))!;
  assert.match(nearRow, /cosine 0\.9731/);

  // Thumbnails of the listed images, then a click on the planted copy opens that very file.
  await page.waitForSelector('#health-both-splits button.health-image img.thumb');
  const copy = await page.$('#health-both-splits button.health-image[aria-label^="Open sofa/7_copy.png (test"]');
  assert.ok(copy, 'the copied test image is listed with a button');
  await copy.click();
  for (let i = 0; i < 50 && opened.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(opened, [path.join(imageRoot, 'sofa/7_copy.png')]);
  await page.click('#health-near-duplicates button.health-image[aria-label^="Open lamp/3_0.png (train"]');
  for (let i = 0; i < 50 && opened.length === 1; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(opened.slice(1), [path.join(imageRoot, 'lamp/3_0.png')]);

  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, 'data-health-dark.png'), fullPage: true });

  // The batch composition beside the training curves.
  await page.click('vscode-tab-header[data-tab=training]');
  await page.waitForSelector('#batch-composition:not([hidden])');
  assert.equal(
    await page.textContent('#batch-composition'),
    'Batches: m_per_product, 2 image pair(s) per product (64 products per batch of 128); products drawn at random ' +
      '(group_by_super_label: false); hard_negative_mining: on.',
  );
  await page.screenshot({ path: path.join(artifacts, 'data-health-training-dark.png') });
  const r = await pageRecords(page);
  assert.deepEqual(r.violations, [], 'CSP violations');
  assert.deepEqual(r.errors, [], 'uncaught errors');
  assert.deepEqual(errors, [], 'console errors');
  await page.close();
});

test('a clean report: no warning in the header, the tab says so; a random-sampler run shows no batch line', async () => {
  const runDir = await runFolder(
    'clean-run',
    [
      listed('mug/1_0.png', '1', 'train'),
      listed('mug/1_1.png', '1', 'train'),
      listed('sofa/7_0.png', '7', 'test'),
      listed('sofa/7_1.png', '7', 'test'),
    ],
    { batch_sampler: 'random' },
  );
  const { page, session, errors } = await openPanel();
  await session.openRun(runDir);
  await page.click('vscode-tab-header[data-tab=data]');
  await page.waitForSelector('#health-counts');
  assert.equal(await page.$('#leakage-alert'), null);
  assert.equal(await page.textContent('vscode-tab-header[data-tab=data]'), 'Data health');
  assert.equal(await page.getAttribute('#health-verdict', 'data-leakage'), null);
  assert.match((await page.textContent('#health-verdict'))!, /^No train\/test leakage found by path or file content\./);
  assert.equal((await counts(page))['images-in-both-splits'], '0');
  assert.equal(await page.isHidden('#batch-composition'), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('no report in the run folder: the tab says where one comes from', async () => {
  const runDir = path.join(tmp, 'no-report');
  fs.mkdirSync(runDir);
  fs.writeFileSync(
    path.join(runDir, 'events.jsonl'),
    trainingRunEvents({ runDir, stepsPerEpoch: 5, epochs: 1 })
      .map((e) => JSON.stringify(e))
      .join('\n') + '\n',
  );
  const { page, session } = await openPanel();
  await session.openRun(runDir);
  await page.click('vscode-tab-header[data-tab=data]');
  await page.waitForSelector('#health-empty');
  assert.match((await page.textContent('#health-empty'))!, /No data-health\.json in .*no-report.*vembed check-data/);
  await page.close();
});
