/**
 * The torch engine's processes (issue 26): two processes (gloo on CPU) equal one with the same global batch;
 * Stop (SIGINT) saves once and `--resume latest` ends where an uninterrupted run ends; a rank killed mid-run ends
 * the run with a message naming it, the last checkpoint stays loadable and `--resume latest` finishes the run; a
 * missing Python is one line before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errorsOf } from '../engineEvents';
import {
  assertOk,
  assertSameTraining,
  rankPids,
  runFolder,
  SHARED_BATCH_RUN,
  stepLosses,
  train,
  trainWatching,
  weightsOf,
  worstRelativeDifference,
  useTinyTorchWork,
} from './torchRuns';

const tiny = useTinyTorchWork('torch-proc');

const RUN = { ...SHARED_BATCH_RUN, epochs: 2 };
const last = (dir: string) => path.join(dir, 'out', 'checkpoint-epoch-2');

test('two processes equal one process with the same global batch (losses and weights within 1e-5)', () => {
  const one = runFolder(tiny.work, 'one', tiny.model, RUN);
  const two = runFolder(tiny.work, 'two', tiny.model, RUN);
  const a = train(one, tiny.python, ['--engine', 'torch']);
  assertOk(a, 'one process');
  const b = train(two, tiny.python, ['--engine', 'torch', '--num_processes', '2']);
  assertOk(b, 'two processes');
  const started = b.events.find((e) => e.type === 'run_started');
  assert.match(started?.type === 'run_started' ? started.device : '', /2 processes/);
  const la = stepLosses(a.events);
  const lb = stepLosses(b.events);
  assert.equal(la.size, 6);
  assert.equal(lb.size, la.size);
  const worst = assertSameTraining(
    { losses: la, checkpoint: last(one) },
    { losses: lb, checkpoint: last(two) },
    'two processes',
  );
  if (process.env.VEMBED_TORCH_VERBOSE)
    console.log(`1 process ${a.seconds}s, 2 processes ${b.seconds}s; worst ${worst}`);
});

test('Stop saves a checkpoint once, and --resume latest ends where the uninterrupted run ends', async () => {
  const whole = path.join(tiny.work, 'one'); // the first test's run, uninterrupted
  assert.ok(fs.existsSync(last(whole)), 'runs after the first test');
  const dir = runFolder(tiny.work, 'stopped', tiny.model, RUN);
  let signalled = false;
  const stopped = await trainWatching(dir, tiny.python, ['--engine', 'torch', '--num_processes', '2'], (e, pid) => {
    // Ctrl+C as soon as the first step is reported: the run stops after the step in progress.
    if (e.type === 'step' && e.step === 1 && !signalled) {
      signalled = true;
      process.kill(pid, 'SIGINT');
    }
  });
  assertOk(stopped, 'the stopped run');
  const checkpoints = stopped.events.filter((e) => e.type === 'checkpoint');
  // One checkpoint, where the run stopped ('stop' mid-epoch, 'epoch' if the step in progress ended the epoch).
  assert.equal(checkpoints.length, 1, `one checkpoint on stop: ${JSON.stringify(checkpoints)}`);
  const end = stopped.events.find((e) => e.type === 'finished');
  assert.equal(end?.type === 'finished' ? end.status : end, 'stopped');
  assert.ok(stepLosses(stopped.events).size < 6, 'the run stopped before its end');
  assert.equal(fs.existsSync(path.join(dir, 'out', '.torch')), false, 'the exchange folder is removed');
  const resumed = train(dir, tiny.python, ['--engine', 'torch', '--resume', 'latest']);
  assertOk(resumed, 'the resumed run');
  // The uninterrupted run's losses, from its events.jsonl.
  const wholeLosses = stepLosses(
    fs
      .readFileSync(path.join(whole, 'out', 'events.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as never),
  );
  assertSameTraining(
    { losses: wholeLosses, checkpoint: last(whole) },
    { losses: stepLosses(resumed.events), checkpoint: last(dir) },
    'resumed after Stop',
  );
});

test('a rank killed mid-run ends the run naming the rank; the last checkpoint loads and --resume latest finishes', async () => {
  const dir = runFolder(tiny.work, 'killed', tiny.model, { ...RUN, save_steps: 1 });
  let killed = false;
  const r = await trainWatching(dir, tiny.python, ['--engine', 'torch', '--num_processes', '2'], (e, pid) => {
    if (e.type === 'checkpoint' && e.step === 2 && !killed) {
      const rank1 = rankPids(pid).get(1);
      assert.ok(rank1, 'rank 1 is running');
      killed = true;
      process.kill(rank1, 'SIGKILL');
    }
  });
  assert.ok(killed);
  assert.equal(r.code, 1, r.stderr);
  const [error] = errorsOf(r.events);
  assert.equal(error?.code, 'torch-rank-failed');
  assert.match(error!.message, /rank 1 was killed \(SIGKILL\)/);
  assert.match(error!.hint ?? '', /checkpoint-step-2/);
  const end = r.events.find((e) => e.type === 'finished');
  assert.ok(end?.type === 'finished' && end.status === 'failed');
  assert.deepEqual(rankPids(process.pid), new Map(), 'no rank is left running');
  const resumed = train(dir, tiny.python, ['--engine', 'torch', '--num_processes', '2', '--resume', 'latest']);
  assertOk(resumed, 'the resumed run');
  const { worst } = worstRelativeDifference(weightsOf(last(dir)), weightsOf(last(path.join(tiny.work, 'one'))));
  assert.ok(worst <= 1e-5, `resumed after the kill: relative difference ${worst}`);
});

test('a missing Python is one line saying what to install, before any work', () => {
  const dir = runFolder(tiny.work, 'nopython', tiny.model, RUN);
  const r = train(dir, tiny.python, ['--engine', 'torch', '--python', path.join(tiny.work, 'no-such-python')]);
  assert.notEqual(r.code, 0);
  const [error] = errorsOf(r.events);
  assert.match(error?.message ?? r.stderr, /torch engine needs Python: .*no-such-python.*no such program/);
  assert.match(error?.hint ?? r.stderr, /scripts\/python\/setup\.sh/);
  assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing was started');
});
