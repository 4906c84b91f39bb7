import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseTrainEngine,
  describeTorchDevices,
  needsTorchProbe,
  NO_GPU_REASON,
} from '../../../src/engine/torch/engineChoice';
import { parseProbeOutput, type TorchDevice, type TorchProbe } from '../../../src/engine/torch/pythonEnv';

// Probe answers in the probe's own JSON format (python/vembed_torch/probe.py), read through the
// same parser as a real run, so these cases follow the format if it changes.
const VERSIONS = {
  torch: '2.13.0+cu128',
  transformers: '5.18.0',
  peft: '0.21.0',
  accelerate: '1.12.0',
  safetensors: '0.8.0',
  numpy: '2.4.6',
  pillow: '12.3.0',
};
/** What sightGpu says on a machine whose OS shows a GPU. */
const SEEN_GPU = 'NVIDIA driver: 2 GPUs in /proc/driver/nvidia/gpus';
const H200 = { type: 'cuda', index: 0, name: 'NVIDIA H200', capability: '9.0', memory_bytes: 150e9, bf16: true };

function probeOf(opts: {
  devices?: object[];
  packages?: Partial<Record<keyof typeof VERSIONS, string | null>>;
  broken?: Record<string, string>;
  message?: string | null;
}): TorchProbe {
  const packages = { ...VERSIONS, ...opts.packages };
  const torchOk = packages.torch !== null && !opts.broken?.torch;
  const json = {
    probe: 1,
    python: { version: '3.12.3', executable: '/env/bin/python', implementation: 'CPython', ok: true },
    packages,
    broken: opts.broken ?? {},
    torch: torchOk
      ? {
          version: packages.torch,
          cuda: '12.8',
          hip: null,
          cuda_error: null,
          cpu_threads: 16,
          devices: opts.devices ?? [],
          distributed: { available: true, nccl: true, gloo: true, mpi: false },
        }
      : null,
    missing: Object.entries(packages)
      .filter(([, v]) => v === null)
      .map(([k]) => k),
    message: opts.message ?? null,
  };
  return {
    ok: true,
    env: parseProbeOutput(`${JSON.stringify(json)}\n`, { command: '/env/bin/python', source: 'flag' }),
  };
}

test('onnx asked for is taken without probing Python', () => {
  assert.equal(needsTorchProbe('onnx', SEEN_GPU), false);
  assert.equal(needsTorchProbe('auto', SEEN_GPU), true);
  assert.equal(needsTorchProbe('auto', null), false);
  assert.equal(needsTorchProbe('torch', null), true);
  assert.deepEqual(chooseTrainEngine('onnx', undefined, SEEN_GPU), {
    engine: 'onnx',
    reason: 'asked for (engine: onnx)',
  });
});

test('auto takes PyTorch when its environment is complete and sees a CUDA device', () => {
  const probe = probeOf({ devices: [H200, { ...H200, index: 1 }] });
  const c = chooseTrainEngine('auto', probe, SEEN_GPU);
  assert.equal(c.engine, 'torch');
  assert.match(c.reason, /^auto: PyTorch 2\.13\.0\+cu128 is complete and sees 2 x NVIDIA H200 \(CUDA 9\.0, bf16\)$/);
});

test('auto takes PyTorch on an Apple GPU (MPS)', () => {
  const mps = { type: 'mps', index: 0, name: 'Apple GPU', capability: null, memory_bytes: null, bf16: false };
  const c = chooseTrainEngine('auto', probeOf({ devices: [mps] }), SEEN_GPU);
  assert.equal(c.engine, 'torch');
  assert.match(c.reason, /1 x Apple GPU \(MPS\)$/);
});

test('auto keeps the ONNX engine on a CPU-only PyTorch, and torch asked for still runs there', () => {
  const probe = probeOf({ devices: [] });
  const auto = chooseTrainEngine('auto', probe, SEEN_GPU);
  assert.equal(auto.engine, 'onnx');
  assert.match(auto.reason, /sees no GPU \(CPU only\)/);
  const forced = chooseTrainEngine('torch', probe, SEEN_GPU);
  assert.equal(forced.engine, 'torch');
  assert.match(forced.reason, /asked for \(engine: torch\); PyTorch 2\.13\.0\+cu128 sees CPU only/);
});

test('a missing library: auto falls back to ONNX saying why, torch asked for is an error naming the install', () => {
  const message = 'PyTorch engine: missing peft. Install: /env/bin/python -m pip install --upgrade peft';
  const probe = probeOf({ devices: [H200], packages: { peft: null }, message });
  assert.equal(probe.ok && probe.env.complete, false);
  assert.deepEqual(probe.ok && probe.env.missing, ['peft']);
  const auto = chooseTrainEngine('auto', probe, SEEN_GPU);
  assert.equal(auto.engine, 'onnx');
  assert.ok(auto.reason.includes(message), auto.reason);
  const forced = chooseTrainEngine('torch', probe, SEEN_GPU);
  assert.equal(forced.engine, null);
  assert.ok(
    forced.reason.startsWith('engine: torch was asked for, but /env/bin/python: missing peft. Install:'),
    forced.reason,
  );
});

test('a library that is installed but does not import counts as missing', () => {
  const probe = probeOf({ devices: [H200], broken: { transformers: 'ImportError: cannot import name X' } });
  assert.equal(probe.ok && probe.env.complete, false);
  assert.equal(chooseTrainEngine('auto', probe, SEEN_GPU).engine, 'onnx');
  assert.equal(chooseTrainEngine('torch', probe, SEEN_GPU).engine, null);
});

test('no usable interpreter: auto says so and trains on ONNX; torch asked for is an error', () => {
  const probe: TorchProbe = {
    ok: false,
    command: '/nope/python',
    source: 'flag',
    error: '--python /nope/python: no such program',
  };
  assert.deepEqual(chooseTrainEngine('auto', probe, SEEN_GPU), {
    engine: 'onnx',
    reason: 'no usable Python for the PyTorch engine (--python /nope/python: no such program)',
  });
  assert.deepEqual(chooseTrainEngine('torch', probe, SEEN_GPU), {
    engine: null,
    reason: 'engine: torch was asked for, but --python /nope/python: no such program',
  });
});

test('devices are grouped by kind in the description', () => {
  const probe = probeOf({
    devices: [H200, { ...H200, index: 1 }, { ...H200, index: 2, name: 'NVIDIA T4', capability: '7.5', bf16: false }],
  });
  assert.ok(probe.ok);
  assert.equal(describeTorchDevices(probe.env), '2 x NVIDIA H200 (CUDA 9.0, bf16), 1 x NVIDIA T4 (CUDA 7.5)');
  const devices: TorchDevice[] = probe.env.torch!.devices;
  assert.equal(devices[2].bf16, false);
});

test('auto with no GPU seen by the OS is the ONNX engine without Python, whatever a probe would say', () => {
  const expected = { engine: 'onnx', reason: NO_GPU_REASON };
  assert.deepEqual(chooseTrainEngine('auto', undefined, null), expected);
  // doctor probes anyway: its line must still be the one train (which did not probe) acts on.
  assert.deepEqual(chooseTrainEngine('auto', probeOf({ devices: [H200] }), null), expected);
  assert.match(NO_GPU_REASON, /no CUDA\/ROCm\/MPS device/);
  // Asked for by name, torch does not depend on the OS's answer.
  assert.equal(chooseTrainEngine('torch', probeOf({ devices: [] }), null).engine, 'torch');
});
