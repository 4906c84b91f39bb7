// `vembed check-data` as a process, with the near-duplicate check on models/vembed-tiny: planted
// copies of training images in the test list (byte copy, re-encoded, resized) are found; the sample
// set itself has none at the default threshold.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { DataHealthReport } from '../../../src/engine/data/dataHealth';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const SAMPLE = path.join(root, 'data/sample-sop');
const MODEL = path.join(root, 'models/vembed-tiny');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-checkdata-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function checkData(sopRoot: string, report: string, extra: string[] = []) {
  const r = spawnSync(
    process.execPath,
    [
      bin,
      'check-data',
      '--sop_root',
      sopRoot,
      '--model_path',
      MODEL,
      '--image_size',
      '84',
      '--report',
      report,
      ...extra,
    ],
    { cwd: root, encoding: 'utf8', timeout: 240000 },
  );
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    report: JSON.parse(fs.readFileSync(report, 'utf8')) as DataHealthReport,
  };
}

test('the sample set: no near-duplicate pair across train and test at the default threshold', () => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
  const r = checkData(SAMPLE, path.join(dir, 'clean.json'), ['--fail_on_leakage']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.report.nearDuplicates?.threshold, 0.99);
  assert.deepEqual(r.report.nearDuplicates?.pairs, []);
  assert.match(r.stdout, /near-duplicate train\/test pairs \(cosine >= 0\.99 with .*vembed-tiny; leakage\): 0/);
});

test('--config: data_path is the train split, val_data_path the test split; no model, no near-duplicate check', () => {
  const report = path.join(dir, 'config.json');
  const r = spawnSync(
    process.execPath,
    [bin, 'check-data', '--config', 'examples/demo_i2i.yaml', '--report', report, '--fail_on_leakage'],
    { cwd: root, encoding: 'utf8', timeout: 120000 },
  );
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /Data health: 720 train images of 144 products, 720 test images of 144 products\./);
  assert.match(r.stdout, /near-duplicates \(re-encoded or resized copies\): not checked/);
  const saved = JSON.parse(fs.readFileSync(report, 'utf8')) as DataHealthReport;
  assert.equal(saved.nearDuplicates, undefined);
  assert.deepEqual(saved.productsInBothSplits, []);
});

test('planted copies of training images in the test list are listed as near-duplicates, with their products', async () => {
  const sop = path.join(dir, 'planted');
  fs.cpSync(SAMPLE, sop, { recursive: true });
  const planted = [
    { from: 'animals_final/3_1.jpg', to: 'animals_final/copy_bytes.jpg', make: null },
    { from: 'food_final/49_2.jpg', to: 'food_final/copy_q90.jpg', make: (s: sharp.Sharp) => s.jpeg({ quality: 90 }) },
    {
      from: 'tools_final/121_3.jpg',
      to: 'tools_final/copy_small.jpg',
      make: (s: sharp.Sharp) => s.resize(112).jpeg({ quality: 85 }),
    },
  ];
  for (const p of planted) {
    if (p.make) await p.make(sharp(path.join(sop, p.from))).toFile(path.join(sop, p.to));
    else fs.copyFileSync(path.join(sop, p.from), path.join(sop, p.to));
  }
  fs.appendFileSync(
    path.join(sop, 'Ebay_test.txt'),
    planted.map((p, i) => `${7001 + i} ${9101 + i} 1 ${p.to}`).join('\n') + '\n',
  );
  const r = checkData(sop, path.join(dir, 'planted.json'), ['--fail_on_leakage']);
  assert.equal(r.code, 1, '--fail_on_leakage: exit 1');
  const pairs = r.report.nearDuplicates!.pairs;
  assert.deepEqual(
    pairs.map((p) => `${p.test} ~ ${p.train}`).sort(),
    planted.map((p) => `${p.to} ~ ${p.from}`).sort(),
    'exactly the planted pairs',
  );
  for (const p of pairs) {
    assert.ok(p.cosine >= 0.99 && p.cosine <= 1.0001, `${p.test}: ${p.cosine}`);
    assert.match(p.testProduct, /^910[123]$/);
  }
  assert.equal(r.report.sameContent.filter((g) => g.crossSplit).length, 1, 'the byte copy is also found by content');
  assert.match(r.stdout, /near-duplicate train\/test pairs .*: 3/);
  assert.match(r.stdout, /Leakage found/);
});
