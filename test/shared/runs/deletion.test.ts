// Deleting a run removes what the run wrote and nothing else (src/shared/runs/deletion.ts), on a real
// short run whose folder also holds the user's own files.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deleteRun, planRunDeletion } from '../../../src/shared/runs/deletion';
import { EVENTS_FILE, RUN_LOCK_FILE } from '../../../src/shared/runs/runFolder';
import { SharedRunData } from '../../engine/run/fixtures';
import { train } from './realRuns';

let data: SharedRunData;
let out: string;
let config: string;
before(async () => {
  data = await SharedRunData.create('delete');
  const run = data.runDir('r');
  config = run.config;
  out = path.join(run.dir, 'out');
  train(run.dir, config);
});
after(() => data?.remove());

const RUN_WRITES = [
  'checkpoint-epoch-1',
  'checkpoint-epoch-2',
  'data-health.json',
  'eval-before',
  'eval-epoch-0.json',
  'eval-epoch-1.json',
  'eval-epoch-2.json',
  'eval-latest',
  EVENTS_FILE,
];

test('the plan lists exactly what the run wrote; the user files in the folder stay, and so does the folder', () => {
  // TensorBoard's event files (one per training process) are named by time, host and pid.
  const tensorboard = fs.readdirSync(out).filter((n) => n.startsWith('events.out.tfevents.'));
  assert.equal(tensorboard.length, 1, 'one TensorBoard file for one training process');
  assert.deepEqual(
    fs
      .readdirSync(out)
      .filter((n) => !tensorboard.includes(n))
      .sort(),
    RUN_WRITES,
    'what a training run writes',
  );
  // The user's own things beside the run: a note, a folder of images, an export into the run folder.
  fs.writeFileSync(path.join(out, 'notes.md'), 'lr 1e-3 looked better\n');
  fs.mkdirSync(path.join(out, 'my-images'));
  fs.writeFileSync(path.join(out, 'my-images', 'chair.png'), 'not really a png');
  fs.writeFileSync(path.join(out, 'model-int8.onnx'), 'exported by the user');
  const plan = planRunDeletion(out);
  assert.deepEqual(
    plan.remove,
    [...RUN_WRITES, ...tensorboard].sort().map((n) => path.join(out, n)),
  );
  assert.deepEqual(plan.keep, ['model-int8.onnx', 'my-images', 'notes.md']);

  // A live process holding the run lock: refused, nothing removed.
  fs.writeFileSync(path.join(out, RUN_LOCK_FILE), JSON.stringify({ pid: process.pid }));
  assert.throws(() => deleteRun(plan), /still in progress \(pid \d+\)/);
  assert.ok(fs.existsSync(path.join(out, EVENTS_FILE)));
  fs.rmSync(path.join(out, RUN_LOCK_FILE));

  assert.equal(deleteRun(plan), false, 'the folder stays: it holds the user files');
  assert.deepEqual(fs.readdirSync(out).sort(), ['model-int8.onnx', 'my-images', 'notes.md']);
  assert.equal(fs.readFileSync(path.join(out, 'my-images', 'chair.png'), 'utf8'), 'not really a png');
  assert.throws(() => planRunDeletion(out), /is not a vembed run folder: it has no events\.jsonl/);
});

test('a run folder holding only the run goes as a whole; paths its events name outside the folder are never touched', () => {
  const run = data.runDir('only');
  const dir = path.join(run.dir, 'out');
  train(run.dir, run.config);
  // An event naming a file outside the run folder (a report written elsewhere) must not make it deletable.
  const outside = path.join(run.dir, 'elsewhere.json');
  fs.writeFileSync(outside, '{}');
  fs.appendFileSync(
    path.join(dir, EVENTS_FILE),
    JSON.stringify({
      v: 1,
      time: new Date().toISOString(),
      type: 'checkpoint',
      path: outside,
      step: 9,
      epoch: 9,
      kind: 'step',
    }) + '\n',
  );
  const plan = planRunDeletion(dir);
  assert.ok(!plan.remove.includes(outside));
  assert.deepEqual(plan.keep, []);
  assert.equal(deleteRun(plan), true);
  assert.equal(fs.existsSync(dir), false);
  assert.ok(fs.existsSync(outside), 'outside the run folder: kept');
  assert.ok(fs.existsSync(run.config), 'the config beside the run folder: kept');
});
