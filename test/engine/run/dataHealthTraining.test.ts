// The data-health check of a `vembed train` process with near_duplicate_threshold: the starting model
// embeds data_path's and val_data_path's images, and the validation images that are training images
// (the fixture's val.jsonl repeats four training products) are listed as near-duplicates.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { engineEvents } from '../engineEvents';
import type { DataHealthReport } from '../../../src/engine/data/dataHealth';
import { tempDir, writeConfig, writePairData, writeTinyModel } from './fixtures';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const work = tempDir('health');
after(() => fs.rmSync(work, { recursive: true, force: true }));

test('near_duplicate_threshold: identical train/val images are near-duplicate pairs in the report and the log', async () => {
  assert.ok(fs.existsSync(path.join(root, 'dist/engine/vembed.js')), 'run `npm run build` first (npm test does)');
  await writeTinyModel(path.join(work, 'model'));
  fs.mkdirSync(path.join(work, 'data'));
  await writePairData(path.join(work, 'data'));
  writeConfig(work, { near_duplicate_threshold: 0.99, max_steps: 1 });
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json'], {
    cwd: work,
    encoding: 'utf8',
    timeout: 240000,
  });
  assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000));
  const events = engineEvents(r.stdout);
  const leak = events.find((e) => e.type === 'warning' && e.code === 'leakage');
  assert.ok(leak && leak.type === 'warning');
  assert.equal(
    leak.file,
    path.join(work, 'out', 'data-health.json'),
    'the warning names the report (VS Code opens it)',
  );
  assert.match(
    leak.message,
    /LEAKAGE: 12 image\(s\) in both train and validation, 4 product\(s\) in both, \d+ near-duplicate pair\(s\) at cosine >= 0\.99/,
  );
  const report = JSON.parse(fs.readFileSync(path.join(work, 'out', 'data-health.json'), 'utf8')) as DataHealthReport;
  assert.equal(report.nearDuplicates?.threshold, 0.99);
  const identical = report.nearDuplicates!.pairs.filter((p) => p.test === p.train);
  assert.equal(identical.length, 12, 'each validation image against itself in the training data');
  for (const p of identical) assert.ok(p.cosine > 0.9999, `${p.test}: ${p.cosine}`);
});
