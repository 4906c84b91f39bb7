/**
 * `--accelerate_config FILE` (issue 26): the ranks start through `accelerate launch --config_file FILE` instead of
 * vembed's own launcher, and train as vembed's own processes do. Two CPU processes on this machine: accelerate's
 * MULTI_CPU type starts its processes with mpirun only (without an mpirun host file it runs one process, whatever
 * num_processes says), so the config is the local multi-process one (torchrun's launcher, `distributed_type:
 * MULTI_GPU`, `use_cpu: true`); vembed's ranks then choose the CPU and gloo themselves, as torch sees no GPU.
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
  useTinyTorchWork,
} from './torchRuns';

const tiny = useTinyTorchWork('torch-accelerate');

const RUN = { ...SHARED_BATCH_RUN, epochs: 1 };
const last = (dir: string) => path.join(dir, 'out', 'checkpoint-epoch-1');

/** An accelerate config file (YAML) of `settings`. */
function accelerateConfig(file: string, settings: Record<string, unknown>): string {
  const lines = Object.entries(settings).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

const LOCAL_TWO_PROCESSES = {
  compute_environment: 'LOCAL_MACHINE',
  distributed_type: 'MULTI_GPU',
  use_cpu: true,
  num_machines: 1,
  machine_rank: 0,
  num_processes: 2,
  gpu_ids: 'all',
  // 0: a free port, so tests running side by side do not meet on 29500.
  main_process_port: 0,
  mixed_precision: 'no',
};

test('two processes started by accelerate launch equal one process of vembed (losses and weights within 1e-5)', () => {
  const one = runFolder(tiny.work, 'one', tiny.model, RUN);
  const a = train(one, tiny.python, ['--engine', 'torch']);
  assertOk(a, 'one process');
  const dir = runFolder(tiny.work, 'accelerate', tiny.model, RUN);
  const config = accelerateConfig(path.join(tiny.work, 'two-cpu.yaml'), LOCAL_TWO_PROCESSES);
  // No --num_processes: the config's num_processes stands (accelerate launch would take a flag over it).
  const b = train(dir, tiny.python, ['--engine', 'torch', '--accelerate_config', config]);
  assertOk(b, 'accelerate launch');
  const started = b.events.find((e) => e.type === 'run_started');
  assert.match(started?.type === 'run_started' ? started.device : '', /CPU.*2 processes/);
  const la = stepLosses(a.events);
  const lb = stepLosses(b.events);
  assert.equal(la.size, 3);
  assert.equal(lb.size, la.size);
  const worst = assertSameTraining(
    { losses: la, checkpoint: last(one) },
    { losses: lb, checkpoint: last(dir) },
    'accelerate launch, 2 processes',
  );
  assert.ok(fs.existsSync(path.join(dir, 'out', 'torch-rank-0.log')), "the launcher's log is in the run folder");
  if (process.env.VEMBED_TORCH_VERBOSE)
    console.log(`1 process ${a.seconds}s, accelerate 2 processes ${b.seconds}s; worst ${worst}`);
});

test('a config that starts fewer processes than asked ends the run before any step, saying why and what to use', () => {
  const dir = runFolder(tiny.work, 'multi-cpu', tiny.model, RUN);
  // MULTI_CPU without an mpirun host file: accelerate launch runs one process.
  const config = accelerateConfig(path.join(tiny.work, 'multi-cpu.yaml'), {
    ...LOCAL_TWO_PROCESSES,
    distributed_type: 'MULTI_CPU',
  });
  const r = train(dir, tiny.python, ['--engine', 'torch', '--num_processes', '2', '--accelerate_config', config]);
  assert.equal(r.code, 1, r.stderr);
  const [error] = errorsOf(r.events);
  assert.equal(
    error?.message,
    "the torch engine asked accelerate launch for 2 processes and 1 started (accelerate's MULTI_CPU type starts several only through mpirun; without it, one).",
  );
  assert.match(error?.hint ?? '', /distributed_type: MULTI_GPU \(with use_cpu: true on CPUs\)/);
  assert.equal(stepLosses(r.events).size, 0, 'no step was taken');
  assert.deepEqual(rankPids(process.pid), new Map(), 'no rank is left running');
});

test('Ctrl+C in a terminal (SIGINT to the whole process group) stops an accelerate run with one checkpoint', async () => {
  const dir = runFolder(tiny.work, 'ctrl-c', tiny.model, RUN);
  const config = accelerateConfig(path.join(tiny.work, 'two-cpu.yaml'), LOCAL_TWO_PROCESSES);
  let signalled = false;
  const r = await trainWatching(
    dir,
    tiny.python,
    ['--engine', 'torch', '--accelerate_config', config],
    (e, pid) => {
      if (e.type === 'step' && e.step === 1 && !signalled) {
        signalled = true;
        process.kill(-pid, 'SIGINT');
      }
    },
    240_000,
    true,
  );
  assert.ok(signalled);
  assertOk(r, 'the stopped run');
  const end = r.events.find((e) => e.type === 'finished');
  assert.equal(end?.type === 'finished' ? end.status : end, 'stopped');
  assert.equal(r.events.filter((e) => e.type === 'checkpoint').length, 1);
  assert.ok(stepLosses(r.events).size < 3, 'the run stopped before its end');
});
