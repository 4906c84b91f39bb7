/**
 * ONNX Runtime's WebGPU provider (the path for every GPU vendor: Vulkan,
 * Metal, D3D12) computes what its CPU provider computes, run on SwiftShader,
 * a Vulkan device on the CPU (test/helpers/swiftshader.ts), in a child
 * process (webgpu/numerics-worker.ts: one process, so ONNX Runtime and the
 * model load once).
 *
 * Tolerances:
 * - embeddings (every variant at its native size, the plain model also
 *   resized and non-square): max |WebGPU - CPU provider| <= 1e-4 (measured
 *   <= 1.7e-6 on values up to 3.4), and against transformers' own embedding
 *   (the fixtures' expected.safetensors) the model tests' 1e-4;
 * - training, three steps of the gradient cache with AdamW at lr 1e-3: losses
 *   within 1e-5 (measured <= 5e-7) and every trained weight within 1e-4
 *   (measured 1.2e-6 with LoRA, 1.2e-5 fully fine-tuned, where a step moves
 *   a weight by up to 1e-3: AdamW divides each gradient by its own running
 *   size, so float rounding in near-zero gradients shows in the update).
 *
 * Skipped, with the reason printed, only where SwiftShader is not installed.
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { swiftShader } from '../../helpers/swiftshader';
import type { EmbeddingCase, TrainingCase } from './webgpu/numerics-worker';

const device = swiftShader();

describe('the WebGPU provider (on SwiftShader) equals the CPU provider', { skip: device.skip }, () => {
  let result: { embedding: EmbeddingCase[]; training: TrainingCase[]; embedSeconds: number; trainSeconds: number };

  before(() => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'webgpu', 'numerics-worker.ts')], {
      env: device.env,
      encoding: 'utf8',
      timeout: 540_000,
      maxBuffer: 64 * 2 ** 20,
    });
    assert.equal(r.status, 0, `the WebGPU worker failed (${r.signal ?? r.status}):\n${r.stderr.slice(-4000)}`);
    result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    console.log(
      `WebGPU numerics on SwiftShader: ${((Date.now() - t0) / 1000).toFixed(1)} s (embedding ${result.embedSeconds.toFixed(1)} s, training ${result.trainSeconds.toFixed(1)} s)`,
    );
  });

  for (const [name, sizes] of [
    ['plain', ['larger', 'native', 'nonsquare']],
    ['SwiGLU', ['native']],
    ['registers', ['native']],
    ['registers, mean pooling, projection head', ['native']],
    ['LoRA adapter merged', ['native']],
  ] as const)
    test(`embedding, ${name}: ${sizes.join(', ')} input within 1e-4 of the CPU provider`, () => {
      const c = result.embedding.find((e) => e.name === name);
      assert.ok(c, `no result for ${name}`);
      assert.deepEqual(c.inputs.map((i) => i.input).sort(), [...sizes]);
      for (const i of c.inputs) {
        assert.ok(i.scale > 0.1, `${name}/${i.input}: embeddings of size ${i.scale} would make the check empty`);
        assert.ok(i.vsCpu <= 1e-4, `${name}/${i.input}: WebGPU differs from the CPU provider by ${i.vsCpu}`);
        if (i.vsReference !== undefined)
          assert.ok(i.vsReference <= 1e-4, `${name}/${i.input}: WebGPU differs from transformers by ${i.vsReference}`);
      }
    });

  for (const name of ['LoRA with dropout (plain)', 'full fine-tuning (SwiGLU)'])
    test(`training, ${name}: three gradient-cache steps give the CPU provider's losses and weights`, () => {
      const c = result.training.find((t) => t.name === name);
      assert.ok(c, `no result for ${name}`);
      assert.equal(c.webgpuLosses.length, 3);
      c.cpuLosses.forEach((l, i) => {
        assert.ok(Number.isFinite(l));
        assert.ok(Math.abs(c.webgpuLosses[i]! - l) <= 1e-5, `step ${i + 1}: loss ${c.webgpuLosses[i]} vs ${l}`);
      });
      assert.ok(c.weightChange > 1e-3, `the steps moved the weights by only ${c.weightChange}`);
      assert.ok(c.weightDiff <= 1e-4, `trained weights differ by ${c.weightDiff}`);
    });
});
