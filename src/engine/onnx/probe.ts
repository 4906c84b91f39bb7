/**
 * Which ONNX Runtime execution providers work here (`vembed doctor`): each
 * one runs a one-node model in a child process, because a provider whose
 * native libraries fail can take the process down with it.
 */
import { spawnSync } from 'node:child_process';
import { missingCudaLibraries, ORT_CUDA12_LIBRARIES } from '../backend/cuda';
import { adapterFromLoaderLog, adapterReportingEnv, withoutLoaderLog, type WebGpuAdapter } from './adapter';
import { FLOAT, GraphBuilder } from './graph';
import { loadOnnxRuntime, ONNX_DEVICES, onnxRuntimeVersion, type OnnxDevice } from './runtime';

export interface OnnxProviderProbe {
  device: OnnxDevice;
  ok: boolean;
  /** Why it cannot be used, in words a user can act on. */
  reason?: string;
  /** WebGPU: the adapter it ran on (adapter.ts). */
  adapter?: WebGpuAdapter;
}

/** y = x + x, [2]: enough to make a provider create its kernels and run. */
function tinyModel(): Uint8Array {
  const g = new GraphBuilder('probe');
  const x = g.input('x', FLOAT, [2]);
  g.output(g.op('Add', [x, x]), 'y', FLOAT, [2]);
  return g.toModel({ name: 'vembed', version: 'probe' }).toBytes();
}

const CHILD = `
const ort = require(process.argv[1]);
const model = Buffer.from(require('fs').readFileSync(0, 'utf8'), 'base64');
ort.InferenceSession.create(model, { executionProviders: [process.argv[2]] })
  .then((s) => s.run({ x: new ort.Tensor('float32', Float32Array.of(1, 2), [2]) }))
  .then((r) => { if (r.y.data[1] !== 4) throw new Error('wrong result ' + r.y.data); process.stdout.write('ok'); })
  .catch((e) => { process.stderr.write(String(e && e.message || e)); process.exit(1); });
`;

/**
 * The telling part of ONNX Runtime's error output: its last line, without colours and the source location before "FAIL
 * :".
 */
function failureText(stderr: string): string {
  const lines = withoutLoaderLog(stderr)
    // eslint-disable-next-line no-control-regex
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const last = lines[lines.length - 1] ?? 'unknown error';
  const fail = last.indexOf('FAIL : ');
  return (fail >= 0 ? last.slice(fail + 'FAIL : '.length) : last).slice(0, 400);
}

/**
 * ONNX Runtime's version and location and each provider's state; `error` when onnxruntime-node does not load at all.
 */
export function probeOnnxProviders(): {
  version?: string;
  location?: string;
  error?: string;
  providers: OnnxProviderProbe[];
} {
  const loaded = loadOnnxRuntime();
  if ('error' in loaded) return { error: loaded.error, providers: [] };
  const bundled = new Map(loaded.ort.listSupportedBackends().map((b) => [b.name, b.bundled] as const));
  const providers = ONNX_DEVICES.map((device): OnnxProviderProbe => {
    if (!bundled.has(device))
      return { device, ok: false, reason: `not built into onnxruntime-node for ${process.platform}-${process.arch}` };
    return runProbe(loaded.location, device, bundled.get(device) ?? false);
  });
  return { version: onnxRuntimeVersion(loaded.ort), location: loaded.location, providers };
}

/** The WebGPU provider's state and adapter (for a run's device line); null when onnxruntime-node does not load. */
export function probeWebGpu(): OnnxProviderProbe | null {
  const loaded = loadOnnxRuntime();
  if ('error' in loaded) return null;
  const bundled = loaded.ort.listSupportedBackends().find((b) => b.name === 'webgpu');
  if (!bundled) return { device: 'webgpu', ok: false, reason: 'not built into onnxruntime-node here' };
  return runProbe(loaded.location, 'webgpu', bundled.bundled);
}

/** One provider's probe in a child process (see the file comment). */
function runProbe(location: string, device: OnnxDevice, bundled: boolean): OnnxProviderProbe {
  const r = spawnSync(process.execPath, ['-e', CHILD, location, device], {
    input: Buffer.from(tinyModel()).toString('base64'),
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 * 2 ** 20, // room for the Vulkan loader's lines
    env: device === 'webgpu' ? adapterReportingEnv() : process.env,
  });
  const adapter = device === 'webgpu' ? { adapter: adapterFromLoaderLog(r.stderr ?? '') } : {};
  if (r.status === 0 && r.stdout === 'ok') return { device, ok: true, ...adapter };
  const detail = failureText(r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`);
  if (device === 'cuda') {
    const missing = missingCudaLibraries(process.env, ORT_CUDA12_LIBRARIES);
    const install = bundled
      ? ''
      : 'the CUDA provider is not installed (onnxruntime-node downloads it when installed with internet; vembed: Install GPU Backend); ';
    return {
      device,
      ok: false,
      reason: `${install}${missing.length ? `CUDA 12 / cuDNN 9 libraries not found: ${missing.join(', ')}; ` : ''}${detail}`,
    };
  }
  if (device === 'webgpu' && /libvulkan\.so\.1/.test(r.stderr ?? ''))
    return {
      device,
      ok: false,
      reason: `the Vulkan loader libvulkan.so.1 is not installed (Debian/Ubuntu: apt install libvulkan1) and no other adapter was found: ${detail}`,
    };
  return { device, ok: false, reason: detail };
}
