// The committed sample data set and `vembed sample-data`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findBundledSample, installSampleData } from '../../../src/engine/data/sampleData';
import { loadSopImageList, readSopList } from '../../../src/engine/data/sopList';
import { DataError } from '../../../src/engine/data/problems';
import { probeImage } from '../../../src/engine/image/decode';

const repo = path.resolve(__dirname, '../../..');
const sample = path.join(repo, 'data', 'sample-sop');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-sample-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the committed sample is SOP-shaped: 12 super classes, disjoint train/test products, 5 views each', () => {
  assert.equal(findBundledSample(), sample);
  const train = readSopList(path.join(sample, 'Ebay_train.txt'));
  const testList = readSopList(path.join(sample, 'Ebay_test.txt'));
  const trainProducts = new Set(train.map((i) => i.classId));
  const testProducts = new Set(testList.map((i) => i.classId));
  assert.ok(
    [...trainProducts].every((c) => !testProducts.has(c)),
    'disjoint products',
  );
  assert.equal(new Set(train.map((i) => i.superClassId)).size, 12);
  assert.equal(new Set(testList.map((i) => i.superClassId)).size, 12);
  assert.ok(trainProducts.size >= 100 && testProducts.size >= 100);
  for (const list of [train, testList]) {
    const views = new Map<number, number>();
    for (const i of list) views.set(i.classId, (views.get(i.classId) ?? 0) + 1);
    assert.ok([...views.values()].every((n) => n >= 4 && n <= 6));
  }
  const bench = loadSopImageList(path.join(sample, 'Ebay_test.txt'));
  assert.equal(bench.images.length, testList.length);
  assert.ok(
    bench.images.every((i) => fs.existsSync(i.absPath)),
    'every listed image exists',
  );
  assert.ok(fs.readFileSync(path.join(sample, 'README.md'), 'utf8').includes('public domain'));
});

test('the committed images are small JPEGs, and the set stays well under 20 MB', async () => {
  const list = readSopList(path.join(sample, 'Ebay_train.txt'));
  let bytes = 0;
  for (const i of list) bytes += fs.statSync(path.join(sample, i.path)).size;
  assert.ok(bytes * 2 < 12e6, `${(bytes / 1e6).toFixed(1)} MB of train images`);
  for (const i of list.slice(0, 20)) {
    const h = await probeImage(path.join(sample, i.path));
    assert.equal(h.format, 'jpeg');
    assert.ok(Math.max(h.width, h.height) <= 160 && Math.min(h.width, h.height) >= 128, `${h.width}x${h.height}`);
  }
});

test('installSampleData copies the set with its pairs, then says it is already there', () => {
  const out = path.join(tmp, 'work');
  const first = installSampleData({ out: 'data/sample-sop', cwd: out });
  assert.equal(first.status, 'installed');
  const dir = path.join(out, 'data', 'sample-sop');
  assert.equal(first.dir, dir);
  assert.equal(first.images, 1440);
  assert.equal(
    fs.readFileSync(path.join(dir, 'train.jsonl'), 'utf8'),
    fs.readFileSync(path.join(sample, 'train.jsonl'), 'utf8'),
    'the same pairs as the committed ones (seed 42)',
  );
  assert.equal(
    fs.readFileSync(path.join(dir, 'val.jsonl'), 'utf8'),
    fs.readFileSync(path.join(sample, 'val.jsonl'), 'utf8'),
  );
  assert.equal(installSampleData({ out: dir }).status, 'already-installed');
  assert.equal(installSampleData({ out: sample }).status, 'in-place');
});

test('installSampleData will not overwrite another folder without force', () => {
  const dir = path.join(tmp, 'busy');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'mine.txt'), 'keep me');
  assert.throws(
    () => installSampleData({ out: dir }),
    (e: unknown) => e instanceof DataError && /holds other files/.test(e.message) && /--force/.test(e.hint ?? ''),
  );
  assert.ok(fs.existsSync(path.join(dir, 'mine.txt')));
  assert.equal(installSampleData({ out: dir, force: true }).status, 'replaced');
  assert.ok(!fs.existsSync(path.join(dir, 'mine.txt')));
  assert.ok(fs.existsSync(path.join(dir, 'Ebay_test.txt')));
});

test('vembed sample-data prints what it did', () => {
  const cwd = path.join(tmp, 'cli');
  fs.mkdirSync(cwd);
  const bin = path.join(repo, 'src/engine/cli/bin.ts');
  // Run from another folder: tsx is loaded by its path, not resolved from the working directory.
  const run = () =>
    spawnSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, bin, 'sample-data'], {
      cwd,
      encoding: 'utf8',
      timeout: 60000,
    });
  const a = run();
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stdout, /Copied the sample data set \(1440 images\) from .* to data\/sample-sop/);
  assert.match(a.stdout, /Prepared SOP pairs/);
  const b = run();
  assert.equal(b.status, 0, b.stderr);
  assert.match(b.stdout, /already installed in data\/sample-sop/);
});

test('loadSopImageList refuses paths that leave the SOP root', () => {
  const dir = path.join(tmp, 'escape');
  fs.mkdirSync(dir);
  const f = path.join(dir, 'Ebay_test.txt');
  fs.writeFileSync(f, 'image_id class_id super_class_id path\n1 1 1 a/1.jpg\n2 1 1 ../b/2.jpg\n');
  assert.throws(
    () => loadSopImageList(f),
    (e: unknown) =>
      e instanceof DataError && /Ebay_test\.txt:3: path `\.\.\/b\/2\.jpg` leaves the SOP root/.test(e.message),
  );
});
