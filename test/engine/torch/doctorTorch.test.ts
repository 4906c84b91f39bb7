// vembed doctor's PyTorch engine section: formatted from the probe's own JSON format, and the
// built CLI run as a user runs it against real interpreters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatTorchSection } from '../../../src/engine/cli/commands/doctorTorch';
import { sightGpu } from '../../../src/engine/torch/gpuSighting';
import { parseProbeOutput, venvPython, type TorchProbe } from '../../../src/engine/torch/pythonEnv';

const root = path.resolve(__dirname, '../../..');
/** What sightGpu says on a machine whose OS shows a GPU. */
const SEEN_GPU = 'NVIDIA driver: 2 GPUs in /proc/driver/nvidia/gpus';

function probeOf(json: object): TorchProbe {
  return { ok: true, env: parseProbeOutput(JSON.stringify(json), { command: '/env/bin/python', source: 'flag' }) };
}

const GPU_PROBE = {
  probe: 1,
  python: { version: '3.12.3', executable: '/env/bin/python', implementation: 'CPython', ok: true },
  packages: {
    torch: '2.13.0+cu128',
    transformers: '5.18.0',
    peft: '0.21.0',
    accelerate: '1.15.0',
    safetensors: '0.8.0',
    numpy: '2.4.6',
    pillow: '12.3.0',
  },
  broken: {},
  torch: {
    version: '2.13.0+cu128',
    cuda: '12.8',
    hip: null,
    cuda_error: null,
    cpu_threads: 16,
    devices: [0, 1].map((index) => ({
      type: 'cuda',
      index,
      name: 'NVIDIA H200',
      capability: '9.0',
      memory_bytes: 143771 * 1024 ** 2,
      bf16: true,
    })),
    distributed: { available: true, nccl: true, gloo: true, mpi: false },
  },
  missing: [],
  message: null,
};

test('doctor lists versions, devices, NCCL/gloo and the engine auto picks on a GPU machine', () => {
  const s = formatTorchSection(probeOf(GPU_PROBE), 'auto', SEEN_GPU);
  assert.deepEqual(s.lines, [
    'PyTorch engine (python/vembed_torch, `vembed train --engine torch`):',
    '  GPU the OS shows: NVIDIA driver: 2 GPUs in /proc/driver/nvidia/gpus',
    '  Python 3.12.3 (CPython): /env/bin/python, found by --python',
    '+ torch        2.13.0+cu128',
    '+ transformers 5.18.0',
    '+ peft         0.21.0',
    '+ accelerate   1.15.0',
    '+ safetensors  0.8.0',
    '+ numpy        2.4.6',
    '+ pillow       12.3.0',
    '  torch 2.13.0+cu128: CUDA 12.8 build, 16 CPU threads',
    '  cuda:0 NVIDIA H200 (CUDA 9.0, 140 GiB, bf16 yes)',
    '  cuda:1 NVIDIA H200 (CUDA 9.0, 140 GiB, bf16 yes)',
    '  distributed: nccl yes, gloo yes',
  ]);
  assert.equal(
    s.engineLine,
    'Training engine: torch (auto: PyTorch 2.13.0+cu128 is complete and sees 2 x NVIDIA H200 (CUDA 9.0, bf16))',
  );
  assert.equal(s.ok, true);
  assert.equal(
    formatTorchSection(probeOf(GPU_PROBE), 'onnx', SEEN_GPU).engineLine,
    'Training engine: onnx (asked for (engine: onnx))',
  );
});

test('doctor says that several GPU processes need NCCL when torch lacks it', () => {
  const noNccl = structuredClone(GPU_PROBE);
  noNccl.torch.distributed.nccl = false;
  const s = formatTorchSection(probeOf(noNccl), 'auto', SEEN_GPU);
  assert.ok(
    s.lines.includes(
      '  distributed: nccl no, gloo yes (several processes on GPUs need NCCL: a CUDA build of torch for Linux has it)',
    ),
  );
});

test('doctor names what is missing and how to install it, and torch asked for fails', () => {
  const message =
    "PyTorch engine: missing peft. Install: /env/bin/python -m pip install --upgrade peft, or in vembed's repository: bash scripts/python/setup.sh";
  const partial = { ...GPU_PROBE, packages: { ...GPU_PROBE.packages, peft: null }, missing: ['peft'], message };
  const s = formatTorchSection(probeOf(partial), 'torch', SEEN_GPU);
  assert.ok(s.lines.includes('- peft         missing'));
  assert.ok(s.lines.includes(`  to install: ${message}`));
  assert.equal(s.ok, false);
  assert.match(
    s.engineLine,
    /^Training engine: none \(engine: torch was asked for, but \/env\/bin\/python: missing peft\. Install: /,
  );
  const broken: TorchProbe = {
    ok: false,
    command: 'python3',
    source: 'path',
    error: 'no Python found (python3 or python on PATH)',
  };
  const b = formatTorchSection(broken, 'auto', SEEN_GPU);
  assert.deepEqual(b.lines.slice(2), ['- no Python found (python3 or python on PATH)']);
  assert.equal(
    b.engineLine,
    'Training engine: onnx (no usable Python for the PyTorch engine (no Python found (python3 or python on PATH)))',
  );
});

test('vembed doctor --python (an empty venv) --engine torch: the section, and exit 1', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-doctor-torch-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  assert.equal(spawnSync('python3', ['-m', 'venv', '--without-pip', dir]).status, 0);
  const py = venvPython(dir)!;
  const run = (args: string[]) =>
    spawnSync(process.execPath, [path.join(root, 'bin', 'vembed.js'), 'doctor', '--python', py, ...args], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
  const r = run(['--engine', 'torch']);
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stdout.split('\n');
  const at = lines.indexOf('PyTorch engine (python/vembed_torch, `vembed train --engine torch`):');
  assert.ok(at > 0, r.stdout);
  assert.match(lines[at + 1], /^ {2}GPU the OS shows: /);
  assert.match(lines[at + 2], new RegExp(`^  Python 3\\.\\d+\\.\\d+ \\(CPython\\): .*, found by --python$`));
  assert.equal(lines[at + 3], '- torch        missing');
  assert.match(
    r.stdout,
    / {2}to install: PyTorch engine: missing torch, transformers, peft, accelerate, safetensors, numpy, pillow\. Install: .* -m pip install --upgrade torch transformers peft accelerate safetensors numpy pillow/,
  );
  assert.match(r.stdout, /\nTraining engine: none \(engine: torch was asked for, but /);
  // auto: the ONNX engine, saying why (no GPU here, or else no torch); doctor itself succeeds.
  const auto = run([]);
  assert.equal(auto.status, 0, auto.stderr);
  assert.match(
    auto.stdout,
    sightGpu() === null
      ? /\nTraining engine: onnx \(auto: no CUDA\/ROCm\/MPS device/
      : /\nTraining engine: onnx \(the PyTorch environment is incomplete \(PyTorch engine: missing torch/,
  );
  const bad = run(['--engine', 'pytorch']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--engine pytorch: expected one of auto, onnx, torch/);
});
