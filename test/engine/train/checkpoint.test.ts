// Checkpoint state on disk: round trips, what counts as complete, finding the
// latest for --resume, and a writer killed (SIGKILL) in the middle of a write.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf } from '../../../src/engine/backend/tf';
import { readSafetensors } from '../../../src/engine/io/safetensors';
import {
  checkpointName,
  findLatestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  removeStaleCheckpointTemps,
  saveCheckpoint,
} from '../../../src/engine/train/checkpoint/checkpoint';
import { configHash } from '../../../src/engine/train/checkpoint/configHash';
import { OPTIMIZER_FILE } from '../../../src/engine/train/checkpoint/optimizerFile';
import { appendLossHistory, TRAINER_STATE_FILE } from '../../../src/engine/train/checkpoint/trainerState';
import { AdamW, type OptimizerState, type ParamState } from '../../../src/engine/train/optim/adamw';
import { Rng } from '../../../src/engine/util/rng';
import { modelBytesForStep, stateForStep, trainerStateForStep } from './helpers/checkpointContents';

let root: string;
before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-ckpt-'));
  await activateBackend('cpu');
});
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function freshDir(name: string): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir);
  return dir;
}

function assertStateEqual(got: OptimizerState | undefined, expected: OptimizerState): void {
  assert.ok(got, 'optimizer state present');
  assert.deepEqual([...got.params.keys()].sort(), [...expected.params.keys()].sort());
  for (const [name, e] of expected.params) {
    const g: ParamState = got.params.get(name)!;
    assert.equal(g.step, e.step, `${name} step`);
    assert.deepEqual(g.shape, e.shape, `${name} shape`);
    assert.ok(
      Buffer.from(g.expAvg.buffer, g.expAvg.byteOffset, g.expAvg.byteLength).equals(
        Buffer.from(e.expAvg.buffer, e.expAvg.byteOffset, e.expAvg.byteLength),
      ),
      `${name} exp_avg bytes`,
    );
    assert.ok(
      Buffer.from(g.expAvgSq.buffer, g.expAvgSq.byteOffset, g.expAvgSq.byteLength).equals(
        Buffer.from(e.expAvgSq.buffer, e.expAvgSq.byteOffset, e.expAvgSq.byteLength),
      ),
      `${name} exp_avg_sq bytes`,
    );
  }
}

function save(dir: string, name: string, step: number, floats = 100): string {
  return saveCheckpoint(dir, name, {
    trainerState: trainerStateForStep(step),
    optimizerState: stateForStep(step, floats),
    writeModel: (d) => fs.writeFileSync(path.join(d, 'model.safetensors'), modelBytesForStep(step, floats)),
  });
}

test('a real AdamW state survives the round trip through optimizer.safetensors bit for bit', () => {
  const dir = freshDir('roundtrip');
  const params = new Map([
    ['fc.weight', tf.variable(tf.randomNormal([3, 4], 0, 1, 'float32', 1))],
    ['fc.bias', tf.variable(tf.randomNormal([4], 0, 1, 'float32', 2))],
  ]);
  const opt = new AdamW(params, { weightDecay: 0.05 });
  for (let i = 0; i < 3; i++) {
    const grads = new Map([...params].map(([k, v]) => [k, tf.randomNormal(v.shape, 0, 1, 'float32', 10 + i)]));
    opt.step(grads, 1e-3);
    tf.dispose([...grads.values()]);
  }
  const exported = opt.exportState();
  let history = appendLossHistory([], { step: 1, loss: 2.5, lr: 0 });
  history = appendLossHistory(history, { step: 2, loss: 2.25, lr: 1e-5, gradNorm: 0.75 });
  const trainerState = {
    ...trainerStateForStep(3),
    lossHistory: history,
    configHash: configHash({ seed: 1, lr: 2, output_dir: 'x' }),
  };
  const target = saveCheckpoint(dir, checkpointName('step', 3), {
    trainerState,
    optimizerState: exported,
    optimizerHyper: { beta1: opt.beta1, beta2: opt.beta2, eps: opt.eps, weightDecay: opt.weightDecay },
    writeModel: (d) => fs.writeFileSync(path.join(d, 'config.json'), '{}\n'),
  });
  assert.equal(target, path.join(dir, 'checkpoint-step-3'));
  assert.deepEqual(fs.readdirSync(dir), ['checkpoint-step-3'], 'no temporary folder left');
  const loaded = loadCheckpoint(target);
  const { files, ...rest } = loaded.trainerState;
  assert.deepEqual(rest, trainerState);
  assert.deepEqual(Object.keys(files).sort(), ['config.json', OPTIMIZER_FILE]);
  assertStateEqual(loaded.optimizerState, exported);
  // A plain safetensors file: readable by any reader, hyperparameters in the metadata.
  const raw = readSafetensors(path.join(target, OPTIMIZER_FILE));
  assert.deepEqual([...raw.tensors.keys()].sort(), [
    'fc.bias.exp_avg',
    'fc.bias.exp_avg_sq',
    'fc.weight.exp_avg',
    'fc.weight.exp_avg_sq',
  ]);
  assert.equal(raw.metadata.weight_decay, '0.05');
  // And it goes back into an optimizer.
  const again = new AdamW(params, { weightDecay: 0.05 });
  again.importState(loaded.optimizerState!);
  assertStateEqual(again.exportState(), exported);
  opt.dispose();
  again.dispose();
  for (const v of params.values()) v.dispose();
});

test('the config hash ignores key order and output-only keys, and sees everything else', () => {
  const a = configHash({ learning_rate: 1e-4, seed: 42, output_dir: 'a', logging_steps: 5 });
  assert.equal(a, configHash({ seed: 42, learning_rate: 1e-4, output_dir: 'b', logging_steps: 50 }));
  assert.notEqual(a, configHash({ seed: 43, learning_rate: 1e-4 }));
  assert.match(a, /^sha256:[0-9a-f]{64}$/);
});

test('the loss history keeps only its tail', () => {
  let h = appendLossHistory([], { step: 1, loss: 1, lr: 0 }, 3);
  for (let s = 2; s <= 5; s++) h = appendLossHistory(h, { step: s, loss: 1, lr: 0 }, 3);
  assert.deepEqual(
    h.map((r) => r.step),
    [3, 4, 5],
  );
});

test('findLatestCheckpoint takes the highest complete step and passes over everything else', () => {
  const dir = freshDir('latest');
  save(dir, 'checkpoint-step-5', 5);
  save(dir, 'checkpoint-step-12', 12);
  save(dir, 'checkpoint-epoch-1', 10);
  // A complete checkpoint still under its temporary name: the rename never happened.
  fs.renameSync(save(dir, 'checkpoint-step-20', 20), path.join(dir, '.checkpoint-step-20.tmp-1-abcdef'));
  // No trainer_state.json (a folder copied by hand, or by another tool).
  fs.mkdirSync(path.join(dir, 'checkpoint-step-30'));
  fs.writeFileSync(path.join(dir, 'checkpoint-step-30', 'model.safetensors'), 'x');
  // Truncated optimizer file.
  const truncated = save(dir, 'checkpoint-step-25', 25);
  fs.truncateSync(path.join(truncated, OPTIMIZER_FILE), 100);
  // Named for one step, holding another.
  fs.renameSync(save(dir, 'checkpoint-step-39', 39), path.join(dir, 'checkpoint-step-40'));
  // Not a checkpoint name at all.
  save(dir, 'checkpoint-step-50', 50);
  fs.renameSync(path.join(dir, 'checkpoint-step-50'), path.join(dir, 'checkpoint-50'));

  const listing = listCheckpoints(dir);
  assert.deepEqual(
    listing.complete.map((c) => c.name),
    ['checkpoint-step-5', 'checkpoint-epoch-1', 'checkpoint-step-12'],
  );
  const reasons = Object.fromEntries(listing.skipped.map((s) => [path.basename(s.dir), s.reason]));
  assert.deepEqual(Object.keys(reasons).sort(), ['checkpoint-step-25', 'checkpoint-step-30', 'checkpoint-step-40']);
  assert.match(
    reasons['checkpoint-step-25']!,
    /optimizer\.safetensors has 100 bytes, expected \d+; the checkpoint is incomplete/,
  );
  assert.match(reasons['checkpoint-step-30']!, /no trainer_state\.json/);
  assert.match(reasons['checkpoint-step-40']!, /named for step 40 but .* says global_step 39/);
  assert.equal(findLatestCheckpoint(dir)?.name, 'checkpoint-step-12');
  // At the same global step the end-of-epoch checkpoint is the later one.
  save(dir, 'checkpoint-epoch-2', 12);
  assert.equal(findLatestCheckpoint(dir)?.name, 'checkpoint-epoch-2');
  assert.equal(findLatestCheckpoint(path.join(dir, 'missing')), undefined);
});

test('a damaged trainer_state.json is refused naming the file and key', () => {
  const dir = freshDir('damaged');
  const target = save(dir, 'checkpoint-step-3', 3);
  const file = path.join(target, TRAINER_STATE_FILE);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, JSON.stringify({ ...json, global_step: -1 }));
  assert.throws(() => loadCheckpoint(target), /trainer_state\.json: "global_step" must be an integer >= 0, got -1/);
  fs.writeFileSync(file, JSON.stringify({ ...json, rng_states: { shuffle: 'x' } }));
  assert.throws(() => loadCheckpoint(target), /"rng_states" must be an object of unsigned 32-bit integers/);
  fs.writeFileSync(file, '{"global_step": 3');
  assert.throws(() => loadCheckpoint(target), /not valid JSON.*damaged/);
});

test("stale temporary folders of dead writers are removed, a live writer's are kept", () => {
  const dir = freshDir('stale');
  const dead = '.checkpoint-step-7.tmp-999999999-abcdef';
  const mine = `.checkpoint-step-8.tmp-${process.pid}-abcdef`;
  fs.mkdirSync(path.join(dir, dead));
  fs.mkdirSync(path.join(dir, mine));
  assert.deepEqual(removeStaleCheckpointTemps(dir), [dead]);
  assert.deepEqual(fs.readdirSync(dir), [mine]);
});

// ---------------------------------------------------------------- kill tests

const CHILD = path.join(__dirname, 'helpers', 'checkpointChild.ts');

interface Child {
  lines: string[];
  waitFor(pattern: RegExp): Promise<void>;
  kill(): Promise<void>;
}

function startChild(mode: 'loop' | 'stall', dir: string, first: number): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, mode, dir, String(first)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  let buffered = '';
  const waiters: Array<() => void> = [];
  proc.stdout.on('data', (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  return {
    lines,
    async waitFor(pattern) {
      const deadline = Date.now() + 20_000;
      while (!lines.some((l) => pattern.test(l))) {
        if (proc.exitCode !== null) throw new Error(`child exited early (${proc.exitCode}): ${stderr}`);
        if (Date.now() > deadline) throw new Error(`child never printed ${pattern}: ${stderr}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    async kill() {
      proc.kill('SIGKILL');
      await exited;
      assert.equal(proc.signalCode, 'SIGKILL', `the child was killed, not finished (${stderr})`);
    },
  };
}

function assertLoadable(dir: string, step: number, floats: number): void {
  const loaded = loadCheckpoint(dir);
  assert.equal(loaded.trainerState.globalStep, step);
  assert.deepEqual(loaded.trainerState.rngStates, trainerStateForStep(step).rngStates);
  assertStateEqual(loaded.optimizerState, stateForStep(step, floats));
  const model = fs.readFileSync(path.join(dir, 'model.safetensors'));
  assert.ok(model.equals(Buffer.from(modelBytesForStep(step, floats))), 'model file intact');
}

test('SIGKILL in the middle of writing a large checkpoint leaves the previous one complete and the torn one unseen', async () => {
  const dir = freshDir('kill-stall');
  const child = startChild('stall', dir, 1);
  await child.waitFor(/^stalled$/);
  await child.kill();
  // The half-written checkpoint-step-2 exists only as a temporary folder.
  const names = fs.readdirSync(dir).sort();
  assert.equal(names.length, 2, names.join(', '));
  assert.equal(names[1], 'checkpoint-step-1');
  assert.match(names[0]!, /^\.checkpoint-step-2\.tmp-\d+-/);
  const latest = findLatestCheckpoint(dir);
  assert.equal(latest?.name, 'checkpoint-step-1');
  assert.deepEqual(listCheckpoints(dir).skipped, []);
  assertLoadable(latest!.dir, 1, 1000);
  assert.deepEqual(removeStaleCheckpointTemps(dir), [names[0]]);
  assert.deepEqual(fs.readdirSync(dir), ['checkpoint-step-1']);
});

test('SIGKILL at random moments of a run that keeps saving: the latest checkpoint is always complete and loadable', async () => {
  const dir = freshDir('kill-loop');
  const rng = new Rng(2024);
  let lastSaved = 0;
  for (let round = 0; round < 5; round++) {
    const first = (findLatestCheckpoint(dir)?.globalStep ?? 0) + 1;
    const child = startChild('loop', dir, first);
    await child.waitFor(/^saved /);
    await new Promise((r) => setTimeout(r, rng.int(300)));
    await child.kill();
    const printed = child.lines.filter((l) => l.startsWith('saved ')).map((l) => Number(l.slice(6)));
    lastSaved = Math.max(lastSaved, ...printed);
    if (process.env.VEMBED_TEST_VERBOSE)
      console.log(`round ${round}: printed ${printed.join(',')}; in ${dir}: ${fs.readdirSync(dir).join(', ')}`);
    const listing = listCheckpoints(dir);
    assert.deepEqual(listing.skipped, [], 'no folder under a checkpoint name is incomplete');
    const latest = findLatestCheckpoint(dir)!;
    // The child may have renamed one more into place without printing it yet.
    assert.ok(
      latest.globalStep === lastSaved || latest.globalStep === lastSaved + 1,
      `latest ${latest.globalStep}, last printed ${lastSaved}`,
    );
    assertLoadable(latest.dir, latest.globalStep, 2_000_000);
    removeStaleCheckpointTemps(dir);
    // Keep the disk use small: drop all but the latest.
    for (const c of listing.complete) if (c.dir !== latest.dir) fs.rmSync(c.dir, { recursive: true });
  }
});
