/**
 * `vembed` against transformers' and peft's own code (the Python environment
 * of scripts/python/setup.sh): embeddings equal transformers' Dinov2Model /
 * Dinov2WithRegistersModel through its own image processor; adapters that
 * `vembed train` writes load with peft and carry their trained weights; a
 * full fine-tuned checkpoint loads with AutoModel.
 *
 * Tolerance: float32 on both sides, different summation orders and image
 * resamplers (sharp vs Pillow): every row's cosine >= 0.99999 and every value
 * within 1e-4 (measured: cosine >= 0.9999999, max difference ~2e-6).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPython } from '../helpers/python';
import { tempDir, writeConfig, writePairData } from '../engine/run/fixtures';
import { assertBuilt, compareEmbeddings, PY, vembed } from './helpers';

const MIN_COSINE = 0.99999;
const MAX_ABS = 1e-4;

let work: string;
let images: string[];

before(() => {
  assertBuilt();
  work = tempDir('interop-hf');
  const made = JSON.parse(
    runPython([path.join(PY, 'make_models.py'), work])
      .trim()
      .split('\n')
      .pop()!,
  ) as { images: string[] };
  images = made.images;
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

/** Embeds `images` with transformers (optionally through a peft adapter) and returns the report and the .npy path. */
function embedHf(
  model: string,
  out: string,
  options: { adapter?: string } = {},
): { file: string; report: Record<string, number | string> } {
  const file = path.join(work, out);
  const args = [path.join(PY, 'embed_hf.py'), model, file, ...images];
  if (options.adapter) args.push('--adapter', options.adapter);
  return { file, report: JSON.parse(runPython(args).trim().split('\n').pop()!) as Record<string, number | string> };
}

function embedVembed(model: string, out: string): string {
  const file = path.join(work, out);
  vembed(['embed', '--model', model, '--out', file, ...images], work);
  return file;
}

function assertSame(a: string, b: string, what: string): void {
  const { minCosine, maxAbs } = compareEmbeddings(a, b);
  if (process.env.VEMBED_INTEROP_VERBOSE) console.log(`${what}: min cosine ${minCosine}, max |diff| ${maxAbs}`);
  assert.ok(minCosine >= MIN_COSINE && maxAbs <= MAX_ABS, `${what}: min cosine ${minCosine}, max |diff| ${maxAbs}`);
}

describe('vembed embed equals transformers (its model classes and image processor, on the same files)', () => {
  const cases: Array<[string, string]> = [
    ['plain', 'Dinov2Model, input at its image_size'],
    ['plain-resized', 'Dinov2Model, 28-px model at 56 px'],
    ['swiglu', 'Dinov2Model with SwiGLU, 28-px model at 42 px'],
    ['registers', 'Dinov2WithRegistersModel at its image_size'],
    ['registers-resized', 'Dinov2WithRegistersModel, 42-px model at 28 px'],
  ];
  for (const [variant, what] of cases) {
    test(`${variant}: ${what}`, () => {
      const model = path.join(work, variant);
      const hf = embedHf(model, `${variant}.hf.npy`);
      assert.equal(hf.report.model, variant.startsWith('registers') ? 'Dinov2WithRegistersModel' : 'Dinov2Model');
      assertSame(embedVembed(model, `${variant}.vembed.npy`), hf.file, variant);
    });
  }
});

describe("what `vembed train` writes loads in peft / transformers and gives vembed's embeddings", () => {
  let data: string;
  before(async () => {
    data = path.join(work, 'data');
    fs.mkdirSync(data);
    await writePairData(data);
  });

  /** A tiny training run on a transformers-saved model (default: plain); returns its last checkpoint. */
  function trainRun(tag: string, extra: Record<string, unknown>, model = 'plain'): string {
    const dir = path.join(work, tag);
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join(work, model), path.join(dir, 'model'));
    fs.symlinkSync(data, path.join(dir, 'data'));
    // A high learning rate and no warm-up: after 3 steps the adapters are far from zero.
    writeConfig(dir, { epochs: 1, learning_rate: 0.01, warmup_steps: 0, val_data_path: null, ...extra });
    vembed(['train', '--config', 'train_i2i.yaml', '--json'], dir);
    return path.join(dir, 'out', 'checkpoint-epoch-1');
  }

  test('a LoRA adapter in the default (transformers 5) layout loads with PeftModel.from_pretrained, is applied, and its merged model equals vembed embed', () => {
    const adapter = trainRun('lora5', {});
    const config = JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8')) as {
      target_modules: string[];
    };
    assert.deepEqual(config.target_modules, ['k_proj', 'o_proj', 'q_proj', 'v_proj']);
    const hf = embedHf(path.join(work, 'plain'), 'lora5.hf.npy', { adapter });
    // 2 layers x 4 projections, every B trained away from zero: peft found and filled every adapted layer.
    assert.equal(hf.report.lora_b_tensors, 8);
    assert.equal(hf.report.lora_b_nonzero, 8, 'peft loaded zero LoRA B weights: the names did not match');
    assert.ok(
      (hf.report.max_abs_adapted_vs_base as number) > 1e-3,
      `the adapter changes the output (max |adapted - base| ${hf.report.max_abs_adapted_vs_base})`,
    );
    assert.ok((hf.report.max_abs_merged_vs_adapted as number) < 1e-5);
    assertSame(embedVembed(adapter, 'lora5.vembed.npy'), hf.file, 'peft merged vs vembed on the adapter');
    // And it is not the base model's output that matched.
    const base = embedHf(path.join(work, 'plain'), 'lora5.base.npy');
    assert.ok(compareEmbeddings(base.file, hf.file).maxAbs > 1e-3);
  });

  test("SwiGLU: targets named with transformers 5's names (q_proj, down_proj) train and load in peft as mlp.down_proj, applied, equal to vembed", () => {
    const adapter = trainRun('swiglu5', { lora_target_modules: ['q_proj', 'down_proj'], image_size: 42 }, 'swiglu');
    const config = JSON.parse(fs.readFileSync(path.join(adapter, 'adapter_config.json'), 'utf8')) as {
      target_modules: string[];
    };
    assert.deepEqual(config.target_modules, ['down_proj', 'q_proj']);
    const hf = embedHf(path.join(work, 'swiglu'), 'swiglu5.hf.npy', { adapter });
    assert.equal(hf.report.lora_b_tensors, 4);
    assert.equal(hf.report.lora_b_nonzero, 4, 'peft loaded zero LoRA B weights: the names did not match');
    assert.ok(
      (hf.report.max_abs_adapted_vs_base as number) > 1e-3,
      `the adapter changes the output (max |adapted - base| ${hf.report.max_abs_adapted_vs_base})`,
    );
    assertSame(embedVembed(adapter, 'swiglu5.vembed.npy'), hf.file, 'SwiGLU adapter, peft merged vs vembed');
  });

  test('adapter_layout transformers4 writes 4.x names, which vembed reads back to the same embeddings as the 5.x file', () => {
    const adapter4 = trainRun('lora4', { adapter_layout: 'transformers4' });
    const config = JSON.parse(fs.readFileSync(path.join(adapter4, 'adapter_config.json'), 'utf8')) as {
      target_modules: string[];
    };
    assert.deepEqual(config.target_modules, ['dense', 'key', 'query', 'value']);
    // Training is deterministic (same seed), so the 5.x run above trained the same weights.
    const five = path.join(work, 'lora5.vembed.npy');
    assert.ok(fs.existsSync(five), 'runs after the transformers5 test');
    assertSame(embedVembed(adapter4, 'lora4.vembed.npy'), five, '4.x vs 5.x layout');
    // Why 5.x is the default: peft on transformers 5 cannot find 4.x-named layers.
    assert.throws(
      () => embedHf(path.join(work, 'plain'), 'lora4.hf.npy', { adapter: adapter4 }),
      /not found in the base model/,
    );
  });

  test('a full fine-tuned checkpoint loads with AutoModel.from_pretrained and equals vembed embed', () => {
    const checkpoint = trainRun('full', { use_lora: false, learning_rate: 0.001 });
    const hf = embedHf(checkpoint, 'full.hf.npy');
    assertSame(embedVembed(checkpoint, 'full.vembed.npy'), hf.file, 'full checkpoint');
    const base = embedHf(path.join(work, 'plain'), 'full.base.npy');
    assert.ok(compareEmbeddings(base.file, hf.file).maxAbs > 1e-3, 'training changed the weights');
  });
});
