/**
 * Where ONNX Runtime puts the engine's graphs (src/engine/onnx/placement.ts,
 * `vembed doctor --placement`): under the WebGPU provider (on SwiftShader,
 * test/helpers/swiftshader.ts) every compute node of the forward graph and of
 * every training graph runs on WebGPU, no copy node is inserted, and only a
 * few int64 shape ops stay on the CPU. A compute node the provider has no
 * kernel for (Sum, which autodiff once used to add gradients) is caught.
 *
 * The classification (compute node or shape arithmetic) and the model
 * reader are tested without a GPU; the rest is skipped, with the reason
 * printed, only where SwiftShader is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadImageEncoder, type FinetuneMode } from '../../../src/engine/model';
import { FLOAT, GraphBuilder } from '../../../src/engine/onnx/graph';
import { readModelStructure } from '../../../src/engine/onnx/modelReader';
import { computeNodeNames, engineGraphs, placeGraphs } from '../../../src/engine/onnx/placement';
import type { PlacementReport } from '../../../src/engine/onnx/placementReport';
import { swiftShader } from '../../helpers/swiftshader';
import { FIXTURES, tempDir, useWasm } from '../model/helpers';

const device = swiftShader();
const root = path.resolve(__dirname, '../../..');

/**
 * x [batch, 3] reshaped to [batch, 3, 1] by shape arithmetic (Shape, Concat), then Sum of three different
 * values: WebGPU has no Sum kernel. The batch is symbolic so that ONNX Runtime cannot fold the shapes away.
 */
function graphWithSum(): Uint8Array {
  const g = new GraphBuilder('sum');
  const x = g.input('x', FLOAT, ['batch', 3]);
  const shape = g.op('Concat', [g.op('Shape', [x]), g.int64s('one', [1])], { axis: { int: 0 } });
  const r = g.op('Reshape', [g.op('Mul', [x, g.floats('two', Float32Array.of(2), [])]), shape]);
  g.output(g.op('Sum', [r, g.op('Exp', [r]), g.op('Neg', [r])]), 'y', FLOAT, ['batch', 3, 1]);
  return g.toModel({ name: 'vembed', version: 'test' }).toBytes();
}

test('compute nodes are those that read tensor data; Shape ends the chain, int64 arithmetic on shapes is not compute', () => {
  const model = readModelStructure(graphWithSum());
  assert.deepEqual(model.inputs, ['x']);
  assert.deepEqual(model.outputs, ['y']);
  assert.deepEqual(
    model.nodes.map((n) => n.opType),
    ['Shape', 'Concat', 'Mul', 'Reshape', 'Exp', 'Neg', 'Sum', 'Identity'],
  );
  assert.equal([...model.initializers.values()].sort().join(','), '1,7', 'a float and an int64 initializer');
  const compute = computeNodeNames(model);
  const byOp = (op: string) => model.nodes.find((n) => n.opType === op)!.name;
  for (const op of ['Mul', 'Reshape', 'Exp', 'Neg', 'Sum', 'Identity']) assert.ok(compute.has(byOp(op)), op);
  for (const op of ['Shape', 'Concat']) assert.ok(!compute.has(byOp(op)), op);
});

test('on the CPU provider every node is on the CPU and none is a fallback', async () => {
  const r = await placeGraphs([{ label: 'sum', bytes: graphWithSum() }], 'cpu');
  assert.equal(r.graphs.length, 1);
  const g = r.graphs[0]!;
  assert.deepEqual(Object.keys(g.byProvider), ['CPU']);
  assert.ok(g.nodes >= 5, `${g.nodes} nodes`);
  assert.deepEqual(g.cpuFallbacks, []);
  assert.equal(g.copyNodes, 0);
});

test(
  'WebGPU: a compute node without a WebGPU kernel is a CPU fallback with copies; shape arithmetic is not',
  { skip: device.skip },
  async () => {
    const r = await placeGraphs([{ label: 'sum', bytes: graphWithSum() }], 'webgpu', { env: device.env });
    const g = r.graphs[0]!;
    assert.deepEqual(
      g.cpuFallbacks.map((n) => n.opType),
      ['Sum'],
    );
    assert.ok(g.copyNodes >= 2, `Sum's input copied to the host and its output back: ${g.copyNodes} copy nodes`);
    assert.ok(g.byProvider.WebGpu! > 0);
    assert.match(r.adapter?.name ?? '', /SwiftShader/);
    assert.equal(r.adapter?.software, true);
  },
);

const LORA: FinetuneMode = { kind: 'lora', settings: { r: 2, alpha: 4, dropout: 0.1, targetModules: 'all-linear' } };

for (const [variant, pooling] of [
  ['swiglu', 'cls'],
  ['registers', 'mean'],
] as const)
  test(
    `WebGPU: ${variant} with ${pooling} pooling, LoRA and full: every compute node on WebGPU, no copy node`,
    { skip: device.skip },
    async () => {
      await useWasm();
      const graphs = [];
      for (const finetune of [LORA, { kind: 'full' } as FinetuneMode]) {
        const encoder = await loadImageEncoder(path.join(FIXTURES, variant), { finetune, pooling, seed: 1 });
        if (pooling === 'mean') encoder.setProjectionHead(8);
        graphs.push(...engineGraphs(encoder));
        encoder.dispose();
      }
      const r = await placeGraphs(graphs, 'webgpu', { env: device.env });
      assert.ok(r.graphs.length >= 8, r.graphs.map((g) => g.label).join(', '));
      for (const g of r.graphs) {
        assert.deepEqual(g.cpuFallbacks, [], `${g.label}: compute nodes on the CPU`);
        assert.equal(g.copyNodes, 0, `${g.label}: copy nodes`);
        assert.ok(g.cpuShapeNodes <= 2, `${g.label}: ${g.cpuShapeNodes} shape ops on the CPU`);
        assert.ok(g.byProvider.WebGpu! >= g.computeNodes, g.label);
      }
    },
  );

test(
  'vembed doctor --placement --backend onnx-webgpu: 100% of compute nodes on WebGPU, the adapter named as software, copies per step counted',
  { skip: device.skip },
  () => {
    const dir = tempDir('placement');
    try {
      const out = path.join(dir, 'placement.json');
      const t0 = Date.now();
      const r = spawnSync(
        process.execPath,
        [
          path.join(root, 'bin', 'vembed.js'),
          'doctor',
          '--placement',
          '--backend',
          'onnx-webgpu',
          '--placement_out',
          out,
        ],
        { env: device.env, encoding: 'utf8', timeout: 400_000 },
      );
      console.log(`vembed doctor --placement on SwiftShader: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      assert.equal(r.status, 0, r.stderr + r.stdout);
      const report = JSON.parse(fs.readFileSync(out, 'utf8')) as PlacementReport;
      assert.equal(report.device, 'webgpu');
      assert.equal(report.adapter?.software, true);
      assert.deepEqual(
        report.graphs.map((g) => g.label),
        [
          'forward (embedding, evaluation, search)',
          'training (LoRA + dropout): embedding pass',
          'training (LoRA + dropout): backward head',
          'training (LoRA + dropout): backward layer',
          'training (full): embedding pass',
          'training (full): backward head',
          'training (full): backward layer',
          'training (full): backward embeddings',
        ],
      );
      assert.equal(report.cpuFallbacks, 0);
      assert.equal(report.copyNodes, 0);
      for (const g of report.graphs) assert.ok(g.computeNodes > 0 && g.byProvider.WebGpu! >= g.computeNodes, g.label);
      // The layers share one graph: used once per layer.
      assert.equal(report.graphs.find((g) => g.label === 'training (full): backward layer')!.uses, 2);
      // One step: 2 sides x 2 chunks; LoRA runs the embedding pass and the head and layers' backward per chunk.
      const lora = report.steps.find((s) => s.mode === 'lora')!;
      assert.equal(lora.runs, 4 * (1 + 1 + 2));
      assert.ok(lora.tensorsIn > lora.runs && lora.tensorsOut >= lora.runs);
      const full = report.steps.find((s) => s.mode === 'full')!;
      assert.equal(full.runs, 4 * (1 + 1 + 2 + 1), 'full fine-tuning also runs the embeddings backward');
      assert.match(r.stdout, /Compute nodes on webgpu: (\d+) of \1 \(100\.0%\); CPU fallbacks: 0; copy nodes: 0\./);
      assert.match(
        r.stdout,
        /\+ onnx-webgpu\s+loads: SwiftShader Device \(\w+\), software: shaders run on the CPU \(for testing; auto never picks it\)/,
      );
      assert.match(r.stdout + r.stderr, /WebGPU got a software adapter \(SwiftShader/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
