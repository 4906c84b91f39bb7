// `batch_sampler: m_per_product` with `hard_negative_mining` in a real `vembed train` process:
// the neighbours are mined and saved, and a run stopped with SIGINT resumes with the same batches.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { SharedRunData } from './fixtures';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const MINING = { batch_sampler: 'm_per_product', images_per_product: 2, hard_negative_mining: true };
let shared: SharedRunData;

before(async () => {
  shared = await SharedRunData.create('hardneg');
});
after(() => shared.remove());

const runDir = (tag: string): string => shared.runDir(tag, MINING).dir;

const events = engineEvents;
const losses = (es: EngineEvent[]) =>
  new Map(es.flatMap((e) => (e.type === 'step' ? [[e.step, e.loss] as const] : [])));
const logs = (es: EngineEvent[]) => es.flatMap((e) => (e.type === 'log' ? [e.message] : []));

let reference: Map<number, number>;

test("mining runs before the first step and saves each product's nearest products", () => {
  const dir = runDir('full');
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 240000,
  });
  assert.equal(r.status, 0, r.stderr + r.stdout.slice(-2000));
  const es = events(r.stdout);
  assert.ok(
    logs(es).some((m) =>
      /hard-negative mining: the nearest products of each of 8 products from 24 query images/.test(m),
    ),
    logs(es).join('\n'),
  );
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'hard-negatives.json'), 'utf8')) as {
    products: string[];
    neighbours: number[][];
  };
  assert.equal(saved.products.length, 8);
  saved.neighbours.forEach((nb, p) => {
    assert.equal(nb.length, 7, 'every other product, nearest first');
    assert.ok(!nb.includes(p), 'never itself');
  });
  // The fixture's val.jsonl repeats the first 4 training products: the data-health check says so, once the run started.
  const warnings = es.flatMap((e) => (e.type === 'warning' && e.code === 'leakage' ? [e.message] : []));
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /^data health: 0 single-image product\(s\), 0 image\(s\) under two products, LEAKAGE: 12 image\(s\) in both train and validation, 4 product\(s\) in both \(lists in .*data-health\.json/,
  );
  const health = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'data-health.json'), 'utf8')) as {
    productsInBothSplits: string[];
  };
  assert.deepEqual(health.productsInBothSplits, ['100', '101', '102', '103']);
  reference = losses(es);
  assert.equal(reference.size, 6);
});

test('SIGINT then --resume latest: the saved neighbours are reused and the losses equal the uninterrupted run', async () => {
  const dir = runDir('stop');
  const child = spawn(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json'], { cwd: dir });
  let out = '';
  let signalled = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (!signalled && /"type":"step","step":2,/.test(out)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  assert.equal(await new Promise<number | null>((resolve) => child.on('close', resolve)), 0);
  const stop = events(out)
    .filter((e) => e.type === 'checkpoint')
    .at(-1);
  assert.ok(stop && stop.type === 'checkpoint');
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json', '--resume', 'latest'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 240000,
  });
  assert.equal(r.status, 0, r.stderr);
  const es = events(r.stdout);
  assert.ok(
    logs(es).some((m) => /using the neighbours this run mined at its start/.test(m)),
    logs(es).join('\n'),
  );
  const after = losses(es);
  assert.ok(after.size > 0 && after.size < 6);
  for (const [s, l] of after)
    assert.equal(l, reference.get(s), `step ${s}: the resumed run equals the uninterrupted one`);
});
