// `vembed train` as a separate engine process, on a tiny model and data set made here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { findLatestCheckpoint, verifyCheckpoint } from '../../../src/engine/train';
import { loadImageEncoder } from '../../../src/engine/model';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { SharedRunData, writeConfig, writeTinyModel } from './fixtures';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
let shared: SharedRunData;
let work: string;

before(async () => {
  shared = await SharedRunData.create('train');
  work = shared.work;
});

after(() => shared.remove());

const runDir = (tag: string, extra: Record<string, unknown> = {}) => shared.runDir(tag, extra);

const events = engineEvents;

function train(dir: string, args: string[]) {
  const r = spawnSync(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json', ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 240000,
  });
  return { code: r.status, events: events(r.stdout), stderr: r.stderr, stdout: r.stdout };
}

const losses = (es: EngineEvent[]) =>
  new Map(es.flatMap((e) => (e.type === 'step' ? [[e.step, e.loss] as const] : [])));

let reference: Map<number, number>;

test('a run: evaluation before training, steps, epoch checkpoints, evaluation per epoch, finished', async () => {
  const { dir } = runDir('full');
  const r = train(dir, []);
  assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
  // Only progress (checking the data's images) comes before the run starts.
  const types = r.events.map((e) => e.type).filter((t) => t !== 'progress');
  assert.equal(types[0], 'run_started');
  const started = r.events.find((e) => e.type === 'run_started') as Extract<EngineEvent, { type: 'run_started' }>;
  // auto: onnxruntime-node loads here, so the gradients and the evaluations run on ONNX Runtime.
  assert.equal(started.backend, 'onnx-cpu');
  assert.match(started.device, /^ONNX Runtime \d+\.\d+ CPU \(\d+ threads?\)$/);
  assert.ok(
    r.events.some((e) => e.type === 'log' && /evaluation embeds with ONNX Runtime \d+\.\d+ CPU/.test(e.message)),
    'the run says evaluation uses ONNX Runtime',
  );
  assert.equal(started.totalSteps, 6, '24 pairs / batch 8 = 3 steps per epoch, 2 epochs');
  const evals = r.events.filter((e): e is Extract<EngineEvent, { type: 'evaluation' }> => e.type === 'evaluation');
  assert.deepEqual(
    evals.map((e) => e.epoch),
    [0, 1, 2],
  );
  for (const e of evals) {
    assert.equal(e.numImages, 12, 'the distinct images of val.jsonl');
    for (const k of ['recall@1', 'recall@10', 'recall@100', 'map@r'])
      assert.ok(e.metrics[k]! >= 0 && e.metrics[k]! <= 1, k);
  }
  const ckpts = r.events.filter((e): e is Extract<EngineEvent, { type: 'checkpoint' }> => e.type === 'checkpoint');
  assert.deepEqual(
    ckpts.map((c) => path.basename(c.path)),
    ['checkpoint-epoch-1', 'checkpoint-epoch-2'],
  );
  const steps = r.events.filter((e): e is Extract<EngineEvent, { type: 'step' }> => e.type === 'step');
  assert.deepEqual(
    steps.map((s) => s.step),
    [1, 2, 3, 4, 5, 6],
  );
  assert.ok(steps.every((s) => Number.isFinite(s.loss) && s.imagesPerSecond! > 0 && s.etaSeconds! >= 0));
  assert.equal(steps[0]!.lr, 0, 'warmup starts at 0');
  assert.deepEqual(r.events.at(-1), { ...r.events.at(-1), type: 'finished', status: 'completed' });
  // Every event is also in the run's events.jsonl.
  const logged = fs.readFileSync(path.join(dir, 'out/events.jsonl'), 'utf8').trim().split('\n');
  assert.equal(logged.length, r.events.length);
  // The checkpoints are complete and load as LoRA adapters over the base model.
  await activateBackend('wasm');
  for (const c of ckpts) {
    verifyCheckpoint(c.path);
    const enc = await loadImageEncoder(c.path, { resolveBase: async (n) => path.resolve(dir, n) });
    assert.equal(enc.embeddingDim, 32);
    enc.dispose();
  }
  assert.ok(fs.existsSync(path.join(dir, 'out/eval-epoch-2.json')));
  // The last evaluation's neighbours and index, for the results panel, named by the finished event.
  const fin = r.events.at(-1) as Extract<EngineEvent, { type: 'finished' }>;
  assert.ok(fs.existsSync(fin.outputs!.neighbours!), 'neighbours file');
  const index = JSON.parse(fs.readFileSync(path.join(fin.outputs!.index!, 'index.json'), 'utf8'));
  assert.equal(index.count, 12);
  assert.equal(index.model.name, ckpts.at(-1)!.path, 'queries must be embedded with the evaluated checkpoint');
  // Epoch 0's evaluation is kept beside the latest, each with its embeddings map: the panel's before and after.
  const beforeReport = JSON.parse(fs.readFileSync(path.join(dir, 'out/eval-before/sop_report.json'), 'utf8'));
  assert.equal(beforeReport.epoch, 0);
  for (const folder of ['eval-before', 'eval-latest']) {
    const map = JSON.parse(fs.readFileSync(path.join(dir, 'out', folder, 'embedding_map.json'), 'utf8'));
    assert.equal(map.num_points, 12, folder);
    assert.equal(map.x.length, 12, folder);
  }
  reference = losses(r.events);
});

test('the same seed on the same backend gives the same losses', () => {
  const { dir } = runDir('again');
  const r = train(dir, []);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(losses(r.events), reference);
});

test('TF.js (--backend wasm) and ONNX Runtime train to the same losses; full fine-tuning too', () => {
  for (const extra of [{}, { use_lora: false, learning_rate: 1e-4 }]) {
    const tag = extra.use_lora === false ? 'full' : 'lora';
    const runs = (['wasm', 'onnx-cpu'] as const).map((backend) => {
      const { dir } = runDir(`backends-${tag}-${backend}`, { ...extra, epochs: 1 });
      const r = train(dir, ['--backend', backend]);
      assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
      const started = r.events.find((e) => e.type === 'run_started') as Extract<EngineEvent, { type: 'run_started' }>;
      assert.equal(started.backend, backend);
      return losses(r.events);
    });
    const [tfjs, onnx] = runs as [Map<number, number>, Map<number, number>];
    assert.deepEqual([...onnx.keys()], [...tfjs.keys()]);
    assert.ok(tfjs.size >= 3);
    // Float32 sums in another order, compounded over the steps' updates.
    for (const [step, loss] of tfjs)
      assert.ok(
        Math.abs(onnx.get(step)! - loss) < 1e-3,
        `${tag} step ${step}: ONNX ${onnx.get(step)} vs TF.js ${loss}`,
      );
  }
});

test('SIGINT finishes the step, saves a checkpoint, exits 0; --resume continues with the same losses', async () => {
  const { dir } = runDir('stop');
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
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0);
  const first = events(out);
  // The step in flight finishes; its checkpoint is a `stop` one, or the epoch's when that step ended an epoch.
  const stop = first.filter((e) => e.type === 'checkpoint').at(-1);
  assert.ok(
    stop && stop.type === 'checkpoint' && (stop.kind === 'stop' || (stop.kind === 'epoch' && stop.step === 3)),
    JSON.stringify(stop),
  );
  assert.deepEqual(first.at(-1), { ...first.at(-1), type: 'finished', status: 'stopped', lastCheckpoint: stop.path });
  const stoppedAt = stop.step;
  assert.ok(stoppedAt >= 2 && stoppedAt < 6, `stopped at ${stoppedAt}`);

  const r = train(dir, ['--resume', 'latest']);
  assert.equal(r.code, 0, r.stderr);
  const resumed = r.events.find((e) => e.type === 'run_started');
  assert.equal(resumed?.type === 'run_started' && resumed.resumedFrom, stop.path);
  const after = losses(r.events);
  assert.deepEqual(
    [...after.keys()],
    [...reference.keys()].filter((s) => s > stoppedAt),
  );
  for (const [s, l] of after)
    assert.equal(l, reference.get(s), `step ${s}: the resumed run equals the uninterrupted one`);
});

test('kill -9 while checkpoints are being written leaves the latest complete checkpoint resumable', async () => {
  const { dir } = runDir('kill', { save_steps: 1, epochs: 3 });
  const child = spawn(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json'], { cwd: dir });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    // Kill right after a step: the engine is then writing (or about to write) that step's checkpoint.
    if ((out.match(/"type":"checkpoint"/g) ?? []).length >= 2 && /"type":"step","step":4,/.test(out))
      child.kill('SIGKILL');
  });
  await new Promise((resolve) => child.on('close', resolve));
  const latest = findLatestCheckpoint(path.join(dir, 'out'));
  assert.ok(latest, 'a complete checkpoint survives');
  verifyCheckpoint(latest.dir);
  const r = train(dir, ['--resume', 'latest']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.events.at(-1)?.type === 'finished' && r.events.at(-1)?.type, 'finished');
});

test("a bad config fails before any work, with the validator's messages", () => {
  const { dir } = runDir('bad', { learning_rte: 0.1, batch_size: 'big' });
  const r = train(dir, []);
  assert.equal(r.code, 1);
  const errors = r.events
    .filter((e) => e.type === 'error')
    .map((e) => (e.type === 'error' ? `${e.line ?? ''} ${e.message}` : ''));
  assert.ok(
    errors.some((m) => /learning_rte.*Did you mean `learning_rate`/.test(m)),
    errors.join('\n'),
  );
  assert.ok(errors.some((m) => /`batch_size` must be an integer/.test(m)));
  assert.equal(fs.existsSync(path.join(dir, 'out')), false, 'nothing was started');
});

test('a non-finite loss stops the run naming the step and the likely causes', async () => {
  const dir = path.join(work, 'nan');
  fs.mkdirSync(dir);
  await writeTinyModel(path.join(dir, 'model'), { poison: true });
  fs.symlinkSync(path.join(work, 'data'), path.join(dir, 'data'));
  writeConfig(dir, { val_data_path: null });
  const r = train(dir, []);
  assert.equal(r.code, 1);
  const err = r.events.find((e) => e.type === 'error');
  assert.ok(err && err.type === 'error');
  assert.equal(err.code, 'non-finite-loss');
  assert.match(err.message, /step 1/);
  assert.match(err.message, /learning rate/i);
  assert.match(err.message, /temperature/i);
  assert.deepEqual(r.events.at(-1), { ...r.events.at(-1), type: 'finished', status: 'failed' });
});
