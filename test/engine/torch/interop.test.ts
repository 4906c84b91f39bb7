/**
 * What the torch engine writes is read by the rest of the world as the ONNX engine's is (issue 26): its LoRA
 * adapter loads with peft 0.21 (every adapter applied) and its merged model embeds as `vembed embed` (ONNX
 * Runtime) does; its full checkpoint loads with transformers' AutoModel and embeds as `vembed embed` does.
 * Tolerances as test/interop: cosine >= 0.99999 and every value within 1e-4.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPython } from '../../helpers/python';
import { referencePython } from '../../helpers/python';
import { compareEmbeddings, PY, vembed } from '../../interop/helpers';
import { tempDir, writePairData } from '../run/fixtures';
import { assertOk, FIXTURES, runFolder, train } from './torchRuns';

let work: string;
let python: string;
let images: string[];
const model = path.join(FIXTURES, 'plain');

before(async () => {
  python = referencePython();
  work = tempDir('torch-interop');
  fs.mkdirSync(path.join(work, 'data'));
  await writePairData(path.join(work, 'data'));
  images = fs
    .readdirSync(path.join(work, 'data'))
    .filter((f) => f.endsWith('.png'))
    .slice(0, 6)
    .map((f) => path.join(work, 'data', f));
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

function trained(tag: string, extra: Record<string, unknown>): string {
  const dir = runFolder(work, tag, model, { epochs: 1, val_data_path: null, image_size: 56, ...extra });
  assertOk(train(dir, python, ['--engine', 'torch']), `torch run ${tag}`);
  return path.join(dir, 'out', 'checkpoint-epoch-1');
}

function assertSame(a: string, b: string, what: string): void {
  const { minCosine, maxAbs } = compareEmbeddings(a, b);
  assert.ok(minCosine >= 0.99999 && maxAbs <= 1e-4, `${what}: min cosine ${minCosine}, max |diff| ${maxAbs}`);
}

test('its LoRA adapter loads in peft with every adapter applied, and embeds as vembed embed does', () => {
  const adapter = trained('lora', { learning_rate: 0.01, warmup_steps: 0 });
  const hfFile = path.join(work, 'lora.hf.npy');
  const report = JSON.parse(
    runPython([path.join(PY, 'embed_hf.py'), model, hfFile, ...images, '--adapter', adapter])
      .trim()
      .split('\n')
      .pop()!,
  ) as Record<string, number>;
  assert.equal(report.lora_b_tensors, 8);
  assert.equal(report.lora_b_nonzero, 8, 'peft loaded zero LoRA B weights');
  assert.ok(report.max_abs_adapted_vs_base! > 1e-3, 'the adapter changes the output');
  const ours = path.join(work, 'lora.vembed.npy');
  vembed(['embed', '--model', adapter, '--out', ours, ...images], work);
  assertSame(ours, hfFile, 'peft merged vs vembed embed');
});

test('its full checkpoint loads with AutoModel and embeds as vembed embed does', () => {
  const checkpoint = trained('full', { use_lora: false, learning_rate: 0.001 });
  const hfFile = path.join(work, 'full.hf.npy');
  runPython([path.join(PY, 'embed_hf.py'), checkpoint, hfFile, ...images]);
  const ours = path.join(work, 'full.vembed.npy');
  vembed(['embed', '--model', checkpoint, '--out', ours, ...images], work);
  assertSame(ours, hfFile, 'AutoModel vs vembed embed');
  const base = path.join(work, 'base.hf.npy');
  runPython([path.join(PY, 'embed_hf.py'), model, base, ...images]);
  assert.ok(compareEmbeddings(base, hfFile).maxAbs > 1e-3, 'training changed the weights');
});
