// The run summary (src/shared/runs/summary.ts) and the run folder reader under it: status from the
// events and the run lock, best Recall@1, epochs, backend, duration. Status cases use the project's
// generated run fixture (test/webview/fixtures/runFixture.ts); the rest reads real short runs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { serializeEvent, makeEvent, type EngineEvent } from '../../../src/shared/protocol';
import { EVENTS_FILE, RUN_LOCK_FILE, readRun } from '../../../src/shared/runs/runFolder';
import { describeRun, readRunSummary } from '../../../src/shared/runs/summary';
import { EPOCH_METRICS, trainingRunEvents } from '../../webview/fixtures/runFixture';
import { makeRealRuns, type RealRuns } from './realRuns';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-summary-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function writeRun(name: string, events: EngineEvent[], lockPid?: number): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, EVENTS_FILE), events.map(serializeEvent).join('\n') + '\n');
  if (lockPid !== undefined)
    fs.writeFileSync(
      path.join(dir, RUN_LOCK_FILE),
      JSON.stringify({ pid: lockPid, started: new Date().toISOString() }),
    );
  return dir;
}

/** A pid that surely belongs to no process: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.on('exit', r));
  return child.pid!;
}

describe('run status', () => {
  test('a run with a finished event is finished, with its duration, epochs and backend', () => {
    const dir = writeRun('done', trainingRunEvents({ runDir: 'x', stepsPerEpoch: 10 }));
    const s = readRunSummary(dir)!;
    assert.equal(s.status, 'finished');
    assert.equal(s.epochsDone, 2);
    assert.equal(s.epochsTotal, 2);
    assert.equal(s.backend, 'wasm');
    assert.ok(s.durationSeconds! > 0);
    assert.equal(
      describeRun(s),
      `finished · R@1 77.5% · 2/2 epochs · wasm · ${(s.durationSeconds! / 60).toFixed(1)} min`,
    );
  });

  test('no finished event and a live process holding the lock: running', () => {
    const dir = writeRun('live', trainingRunEvents({ runDir: 'x', stepsPerEpoch: 10, upToStep: 15 }), process.pid);
    const s = readRunSummary(dir)!;
    assert.equal(s.status, 'running');
    assert.equal(s.epochsDone, 1, 'epoch 1 finished, epoch 2 under way');
  });

  test('no finished event and a stale lock (its process gone) or none: stopped', async () => {
    const events = trainingRunEvents({ runDir: 'x', stepsPerEpoch: 10, upToStep: 15 });
    assert.equal(readRunSummary(writeRun('stale', events, await deadPid()))!.status, 'stopped');
    assert.equal(readRunSummary(writeRun('nolock', events))!.status, 'stopped');
  });

  test('an error without a finished event (the process died after it): failed', () => {
    const events = [
      ...trainingRunEvents({ runDir: 'x', stepsPerEpoch: 10, upToStep: 3 }),
      makeEvent({ type: 'error', code: 'non-finite-loss', message: 'the loss is NaN at step 3' }),
    ];
    const s = readRunSummary(writeRun('crashed', events))!;
    assert.equal(s.status, 'failed');
    assert.equal(s.error, 'the loss is NaN at step 3');
  });

  test('the best Recall@1 is over the epochs after training, not the model before it', () => {
    const events = trainingRunEvents({ runDir: 'x', stepsPerEpoch: 10, epochs: 2 });
    // Epoch 0 (before training) scoring higher than every trained epoch must not be "best".
    const zeroShot = events.find((e) => e.type === 'evaluation' && e.epoch === 0)!;
    (zeroShot as { metrics: Record<string, number> }).metrics = { ...EPOCH_METRICS[0]!, 'recall@1': 0.99 };
    const s = readRunSummary(writeRun('best', events))!;
    assert.equal(s.bestRecall1, EPOCH_METRICS[2]!['recall@1']);
    assert.equal(s.bestEpoch, 2);
    assert.equal(s.before!['recall@1'], 0.99);
    assert.deepEqual(
      s.recall1PerEpoch.map((p) => p.epoch),
      [0, 1, 2],
    );
  });

  test('a folder without events.jsonl is not a run', () => {
    fs.mkdirSync(path.join(tmp, 'empty'));
    assert.equal(readRun(path.join(tmp, 'empty')), undefined);
    assert.equal(readRunSummary(path.join(tmp, 'empty')), undefined);
  });
});

describe('real runs', () => {
  let runs: RealRuns;
  before(async () => {
    runs = await makeRealRuns('summary');
  });
  after(() => runs?.data.remove());

  test('a finished training run: status, epochs, loss per epoch, best Recall@1 from its evaluations', () => {
    const s = readRunSummary(runs.a)!;
    const events = fs
      .readFileSync(path.join(runs.a, EVENTS_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as EngineEvent);
    const evals = events.filter((e) => e.type === 'evaluation');
    const trained = evals.filter((e) => e.epoch > 0).map((e) => e.metrics['recall@1']!);
    assert.equal(s.status, 'finished');
    assert.equal(s.command, 'train');
    assert.equal(s.epochsDone, 2);
    assert.equal(s.bestRecall1, Math.max(...trained));
    assert.deepEqual(
      s.lossPerEpoch,
      events.filter((e) => e.type === 'epoch').map((e) => ({ epoch: e.epoch, value: e.meanLoss })),
    );
    assert.equal(s.recall1PerEpoch.length, 3, 'epochs 0, 1, 2');
    assert.deepEqual(
      s.checkpoints.map((c) => path.basename(c.path)),
      ['checkpoint-epoch-1', 'checkpoint-epoch-2'],
    );
    const finished = events.find((e) => e.type === 'finished')!;
    assert.equal(s.durationSeconds, finished.seconds);
    assert.ok(s.backend, 'the backend the run named');
    assert.equal(fs.existsSync(path.join(runs.a, RUN_LOCK_FILE)), false, 'the finished run released its lock');
  });
});
