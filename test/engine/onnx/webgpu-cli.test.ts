/**
 * The commands on ONNX Runtime's WebGPU provider, on SwiftShader (a Vulkan
 * device on the CPU, test/helpers/swiftshader.ts), as separate processes:
 * evaluation (`benchmark sop`), `index build` and `search`, and a short
 * `train` run with its per-epoch evaluation, each against the same command
 * on the CPU provider; the run names the adapter as software and warns that
 * WebGPU on it is for testing; `vembed doctor` says what `train` then uses.
 *
 * Tolerances: embeddings within 1e-4 (WebGPU vs CPU provider, measured
 * ~1e-6), so the metrics and neighbours are the same; search scores within
 * 1e-5; training losses within 1e-4 over two steps (float32 sums in another
 * order, through AdamW's update).
 *
 * Skipped, with the reason printed, only where SwiftShader is not installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readNpy } from '../../../src/shared/artifacts/npy';
import type { EngineEvent } from '../../../src/shared/protocol';
import { swiftShader } from '../../helpers/swiftshader';
import { TEST } from '../data/sopTree';
import { engineEvents } from '../engineEvents';
import { maxAbsDiff } from '../model/helpers';
import { makeInferenceWork, SharedRunData } from '../run/fixtures';

const device = swiftShader();
const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');

type Started = Extract<EngineEvent, { type: 'run_started' }>;

function vembed(cwd: string, args: string[], env: NodeJS.ProcessEnv = device.env ?? process.env) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8', timeout: 300_000 });
  const events = engineEvents(r.stdout);
  return {
    code: r.status,
    stdout: r.stdout,
    stderr: r.stderr,
    events,
    started: events.find((e): e is Started => e.type === 'run_started'),
    warnings: events.flatMap((e) => (e.type === 'warning' ? [e] : [])),
  };
}

/** The run's device line names the software adapter, and the run warns once that it is for testing. */
function assertSoftwareWebGpu(r: ReturnType<typeof vembed>): void {
  assert.equal(r.started?.backend, 'onnx-webgpu');
  assert.match(
    r.started?.device ?? '',
    /^ONNX Runtime \d+\.\d+ WebGPU \(SwiftShader [^)]*\), software: shaders run on the CPU\)$/,
  );
  const software = r.warnings.filter((w) => w.code === 'backend-software');
  assert.equal(software.length, 1, JSON.stringify(r.warnings));
  assert.match(software[0]!.message, /software adapter \(SwiftShader.*for testing/);
}

describe("the commands on WebGPU (SwiftShader) give the CPU provider's results", { skip: device.skip }, () => {
  let work: string;
  let sop: string;
  let remove: () => void;
  const t0 = Date.now();

  before(async () => {
    ({ work, sop, remove } = await makeInferenceWork('webgpu-cli'));
  });

  after(() => {
    remove();
    console.log(`WebGPU commands on SwiftShader: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });

  test('benchmark sop: the same embeddings (1e-4), metrics and neighbours', () => {
    const run = (backend: string) =>
      vembed(work, [
        'benchmark',
        'sop',
        '--model_path',
        'model',
        '--sop_root',
        sop,
        '--output_dir',
        `bench-${backend}`,
        '--backend',
        backend,
        '--json',
      ]);
    const gpu = run('onnx-webgpu');
    assert.equal(gpu.code, 0, gpu.stderr + gpu.stdout.slice(-2000));
    assertSoftwareWebGpu(gpu);
    const cpu = run('onnx-cpu');
    assert.equal(cpu.code, 0, cpu.stderr);
    const read = (b: string, f: string) => path.join(work, `bench-${b}`, f);
    const a = readNpy(read('onnx-webgpu', 'embeddings.npy'));
    const b = readNpy(read('onnx-cpu', 'embeddings.npy'));
    assert.deepEqual(a.shape, [TEST.length, 32]);
    const d = maxAbsDiff(a.data as Float32Array, b.data as Float32Array);
    assert.ok(d <= 1e-4, `embeddings differ by ${d}`);
    const ra = JSON.parse(fs.readFileSync(read('onnx-webgpu', 'sop_report.json'), 'utf8'));
    const rb = JSON.parse(fs.readFileSync(read('onnx-cpu', 'sop_report.json'), 'utf8'));
    assert.equal(ra.backend, 'onnx-webgpu');
    for (const k of ['recall@1', 'recall@10', 'map@r']) assert.equal(ra[k], rb[k], k);
  });

  test('index build and search: the same neighbours, scores within 1e-5', () => {
    const results = (backend: string) => {
      const idx = `idx-${backend}`;
      const built = vembed(work, [
        'index',
        'build',
        '--model',
        'model',
        '--images',
        path.join(sop, 'Ebay_test.txt'),
        '--out',
        idx,
        '--backend',
        backend,
        '--json',
      ]);
      assert.equal(built.code, 0, built.stderr + built.stdout.slice(-2000));
      const r = vembed(work, [
        'search',
        '--index',
        idx,
        '--image',
        path.join(sop, TEST[3]!.path),
        '--k',
        '4',
        '--backend',
        backend,
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      if (backend === 'onnx-webgpu') assertSoftwareWebGpu(r);
      const file = (r.events.find((e) => e.type === 'finished') as { outputs?: { results?: string } }).outputs!
        .results!;
      return JSON.parse(fs.readFileSync(file, 'utf8')) as Array<{ path: string; score: number }>;
    };
    const gpu = results('onnx-webgpu');
    const cpu = results('onnx-cpu');
    assert.deepEqual(
      gpu.map((x) => x.path),
      cpu.map((x) => x.path),
    );
    gpu.forEach((x, i) =>
      assert.ok(Math.abs(x.score - cpu[i]!.score) <= 1e-5, `${x.path}: ${x.score} vs ${cpu[i]!.score}`),
    );
  });

  test("train --backend onnx-webgpu: the CPU provider's losses and evaluation; doctor names the same choice", async () => {
    const shared = await SharedRunData.create('webgpu-train');
    try {
      const run = (backend: string) => {
        const { dir } = shared.runDir(`run-${backend}`, { epochs: 1, max_steps: 2 });
        const r = vembed(dir, ['train', '--config', 'train_i2i.yaml', '--backend', backend, '--json']);
        assert.equal(r.code, 0, r.stderr + r.stdout.slice(-2000));
        const losses = r.events.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
        const evals = r.events.flatMap((e) => (e.type === 'evaluation' ? [e] : []));
        return { r, losses, evals };
      };
      const gpu = run('onnx-webgpu');
      assertSoftwareWebGpu(gpu.r);
      const cpu = run('onnx-cpu');
      assert.equal(gpu.losses.length, 2);
      gpu.losses.forEach((l, i) =>
        assert.ok(Math.abs(l - cpu.losses[i]!) <= 1e-4, `step ${i + 1}: ${l} vs ${cpu.losses[i]}`),
      );
      // The evaluations before training and after the epoch embed on WebGPU: the same metrics.
      assert.ok(gpu.evals.length >= 2, `${gpu.evals.length} evaluations`);
      assert.deepEqual(
        gpu.evals.map((e) => JSON.stringify(e.metrics)),
        cpu.evals.map((e) => JSON.stringify(e.metrics)),
      );
      // auto never takes WebGPU, so never a software adapter: the CPU provider, although WebGPU loads.
      const auto = vembed(work, ['doctor'], device.env);
      assert.equal(auto.code, 0, auto.stderr);
      assert.match(auto.stdout, /\+ onnx-webgpu\s+loads: SwiftShader .*software/);
      assert.match(auto.stdout, /Training will use: onnx-cpu; embedding, evaluation and search: onnx-cpu /);
      const doctor = vembed(work, ['doctor'], { ...device.env, VEMBED_BACKEND: 'onnx-webgpu' });
      assert.equal(doctor.code, 0, doctor.stderr);
      assert.match(
        doctor.stdout,
        /Training will use: onnx-webgpu; embedding, evaluation and search: onnx-webgpu \(ONNX Runtime [\d.]+ WebGPU \(SwiftShader/,
      );
    } finally {
      fs.rmSync(shared.work, { recursive: true, force: true });
    }
  });
});
