/**
 * Which gradient path a training run takes (src/engine/onnx/trainBackend.ts):
 * ONNX Runtime for a DINOv2 encoder when the backend choice is ONNX; no
 * choice means TF.js; a model the graphs cannot describe is an error when
 * ONNX Runtime was asked for by name and a quiet TF.js run under `auto`.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadImageEncoder } from '../../../src/engine/model';
import { chooseOnnx } from '../../../src/engine/onnx/backendChoice';
import { startOnnxTraining } from '../../../src/engine/onnx/trainBackend';
import { OnnxGradients } from '../../../src/engine/onnx/trainer';
import { FIXTURES, useWasm } from '../model/helpers';
import { TinyEncoder } from '../train/helpers/tinyEncoder';

before(useWasm);

function tinyEncoder(): TinyEncoder {
  return new TinyEncoder({ height: 2, width: 2, hidden: 4, dim: 3, seed: 1 });
}

test('a DINOv2 encoder under an ONNX choice trains on ONNX Runtime; no choice means TF.js', async () => {
  const encoder = await loadImageEncoder(path.join(FIXTURES, 'plain'), { finetune: { kind: 'full' }, seed: 1 });
  try {
    assert.equal(await startOnnxTraining(encoder, null, () => {}), null);
    const runner = await startOnnxTraining(encoder, chooseOnnx('onnx-cpu', 'wasm', 1), () => {});
    assert.ok(runner instanceof OnnxGradients);
    assert.equal(runner.wholeBatches, true);
    await runner.close();
  } finally {
    encoder.dispose();
  }
});

test('a model the graphs do not describe: an error when asked for by name, TF.js under auto', async () => {
  const encoder = tinyEncoder();
  const notes: string[] = [];
  await assert.rejects(
    startOnnxTraining(encoder, chooseOnnx('onnx-cpu', 'wasm', 1), (m) => notes.push(m)),
    /--backend onnx-cpu: ONNX Runtime trains DINOv2 encoders only/,
  );
  assert.equal(await startOnnxTraining(encoder, chooseOnnx('auto', 'wasm', 1), (m) => notes.push(m)), null);
  encoder.dispose();
});
