/**
 * `vembed doctor`'s summaries are the choices the commands make: for the default
 * (auto), VEMBED_BACKEND=wasm and VEMBED_BACKEND=onnx-cpu, the backend it
 * says training will use is the one `vembed train` then reports in its
 * run_started event, and the one it gives for embedding is what `vembed
 * embed` reports. (It once listed the first TF.js backend that loads,
 * "wasm", while training ran on ONNX Runtime.) Its "Training engine" line is
 * the engine train logs that it chose.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NO_GPU_REASON } from '../../../src/engine/torch/engineChoice';
import { sightGpu } from '../../../src/engine/torch/gpuSighting';
import type { EngineEvent } from '../../../src/shared/protocol';
import { engineEvents } from '../engineEvents';
import { SharedRunData } from '../run/fixtures';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
let shared: SharedRunData;

before(async () => {
  shared = await SharedRunData.create('doctor-choice');
});

after(() => fs.rmSync(shared.work, { recursive: true, force: true }));

function vembed(cwd: string, args: string[], env: Record<string, string>) {
  const base = { ...process.env };
  delete base.VEMBED_BACKEND;
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    env: { ...base, ...env },
    encoding: 'utf8',
    timeout: 240_000,
  });
  const started = engineEvents(r.stdout).find(
    (e): e is Extract<EngineEvent, { type: 'run_started' }> => e.type === 'run_started',
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, started };
}

for (const [label, env, expected] of [
  ['auto (nothing set)', {}, 'onnx-cpu'],
  ['VEMBED_BACKEND=wasm', { VEMBED_BACKEND: 'wasm' }, 'wasm'],
  ['VEMBED_BACKEND=onnx-cpu', { VEMBED_BACKEND: 'onnx-cpu' }, 'onnx-cpu'],
] as const)
  test(`doctor's summary is what train and embed use: ${label}`, () => {
    const { dir } = shared.runDir(`run-${expected}-${Object.keys(env).length}`, { epochs: 1, max_steps: 1 });
    const doctor = vembed(dir, ['doctor'], env);
    assert.equal(doctor.code, 0, doctor.stderr);
    const said = /Training will use: (\S+); embedding, evaluation and search: ([^\s(]+)/.exec(doctor.stdout);
    assert.ok(said, doctor.stdout);
    const train = vembed(dir, ['train', '--config', 'train_i2i.yaml', '--json'], env);
    assert.equal(train.code, 0, train.stderr + train.stdout.slice(-1500));
    const embed = vembed(dir, ['embed', '--model', 'model', '--out', 'e.npy', '--json', 'data/p0_v0.png'], env);
    assert.equal(embed.code, 0, embed.stderr);
    assert.equal(said[1], train.started?.backend, 'training');
    assert.equal(said[2], embed.started?.backend, 'embedding');
    assert.equal(said[1], expected);
    // The training engine too: doctor's line is the choice train logs (engine auto, the config's default).
    const engineSaid = /\nTraining engine: (\S+) \((.*)\)\n/.exec(doctor.stdout);
    assert.ok(engineSaid, doctor.stdout);
    const logged = engineEvents(train.stdout)
      .map((e) => (e.type === 'log' ? /^training engine: (\S+) \((.*)\)$/.exec(e.message) : null))
      .find((m) => m);
    assert.ok(logged, train.stdout.slice(-1500));
    assert.deepEqual([logged[1], logged[2]], [engineSaid[1], engineSaid[2]]);
    // This machine has no GPU: auto is the ONNX engine at once, without waiting for Python.
    if (sightGpu() === null) assert.deepEqual([logged[1], logged[2]], ['onnx', NO_GPU_REASON]);
  });

test("torch's flags under auto: --num_processes said to be ignored once when auto chose onnx, the rest refused; engine onnx refuses both", () => {
  const { dir } = shared.runDir('engine-flags', { epochs: 1, max_steps: 1 });
  const named = vembed(dir, ['train', '--config', 'train_i2i.yaml', '--engine', 'onnx', '--num_processes', '2'], {});
  assert.match(
    named.stderr,
    /--num_processes and --accelerate_config are options of the torch engine \(--engine torch\)/,
  );
  assert.equal(named.code, 2, named.stderr);
  if (sightGpu() !== null) return; // a GPU machine may choose torch, where the flags are valid
  const launcher = path.join(dir, 'accelerate.yaml');
  fs.writeFileSync(launcher, 'num_processes: 2\n');
  const refused = vembed(dir, ['train', '--config', 'train_i2i.yaml', '--accelerate_config', launcher], {});
  assert.equal(refused.code, 2, refused.stderr);
  assert.ok(
    refused.stderr.includes(
      `--accelerate_config is an option of the torch engine, but engine auto chose onnx (${NO_GPU_REASON}). Give --engine torch to train with PyTorch.`,
    ),
    refused.stderr,
  );
  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    ['accelerate.yaml', 'data', 'model', 'train_i2i.yaml'],
    'nothing was started',
  );
  // What the extension passes from vembed.training.numProcesses when the setting and the config say auto.
  const auto = vembed(dir, ['train', '--config', 'train_i2i.yaml', '--json', '--num_processes', '2'], {});
  assert.equal(auto.code, 0, auto.stderr + auto.stdout.slice(-1500));
  assert.equal(auto.started?.backend, 'onnx-cpu');
  const events = engineEvents(auto.stdout);
  const ignored = events.filter((e) => e.type === 'warning' && e.code === 'torch-flag-ignored');
  assert.deepEqual(
    ignored.map((e) => (e.type === 'warning' ? e.message : '')),
    [
      `--num_processes 2 applies to the torch engine; engine auto chose onnx (${NO_GPU_REASON}), which trains in this one process.`,
    ],
    'said once',
  );
  const at = (e: EngineEvent | undefined) => events.indexOf(e!);
  assert.ok(
    at(events.find((e) => e.type === 'run_started')) < at(ignored[0]),
    "after run_started (readers take a run's first event to be it)",
  );
});
