/**
 * Full models in the Hugging Face layout: saving writes back exactly the
 * tensors a checkpoint holds (names, [out, in] / conv layouts, values), full
 * fine-tuning trains every used parameter, the projection head and pooling
 * survive a save, and bad folders fail with messages that name the file and
 * the tensor.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, type Tensor4D } from '../../../src/engine/backend/tf';
import { readSafetensors, writeSafetensors } from '../../../src/engine/io/safetensors';
import { loadImageEncoder, saveAdapter, saveFullModel } from '../../../src/engine/model';
import { FIXTURES, fixtureInputs, maxAbsDiff, pixels, take, tempDir, useWasm } from './helpers';

const PLAIN = path.join(FIXTURES, 'plain');
let dir: string;
let x: Tensor4D;
before(async () => {
  await useWasm();
  dir = tempDir('save-load');
  x = pixels(fixtureInputs().get('larger')!);
});
after(() => {
  x.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A copy of a fixture folder whose files can be changed. */
function copyOf(variant: string, name: string): string {
  const target = path.join(dir, name);
  fs.cpSync(path.join(FIXTURES, variant), target, { recursive: true });
  return target;
}

describe('full models', () => {
  for (const variant of ['plain', 'registers', 'swiglu']) {
    test(`${variant}: a loaded model saves back to the same tensors, names and shapes (Hugging Face layout)`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant));
      const out = path.join(dir, `saved-${variant}`);
      try {
        saveFullModel(encoder, out);
      } finally {
        encoder.dispose();
      }
      const original = readSafetensors(path.join(FIXTURES, variant, 'model.safetensors'));
      const saved = readSafetensors(path.join(out, 'model.safetensors'));
      assert.deepEqual(saved.metadata, { format: 'pt' });
      const expectedNames = [...original.tensors.keys()];
      // The SwiGLU fixture has no mask token; the saved model carries a zero one, as transformers creates.
      if (variant === 'swiglu') expectedNames.push('embeddings.mask_token');
      assert.deepEqual([...saved.tensors.keys()].sort(), expectedNames.sort());
      for (const [name, t] of original.tensors) {
        assert.deepEqual(saved.tensors.get(name)!.shape, t.shape, name);
        assert.deepEqual(saved.tensors.get(name)!.data, t.data, name);
      }
      const config = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      const originalConfig = JSON.parse(fs.readFileSync(path.join(FIXTURES, variant, 'config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.deepEqual(config, { ...originalConfig, torch_dtype: 'float32' });
      const pre = JSON.parse(fs.readFileSync(path.join(out, 'preprocessor_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.deepEqual(pre.crop_size, { height: 56, width: 56 });
      assert.deepEqual(pre.size, { shortest_edge: 64 });
      assert.equal(pre.image_processor_type, 'BitImageProcessor');
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'embedding_head.json'), 'utf8')), {
        format: 'vembed-embedding-head',
        version: 1,
        pooling: 'cls',
        hidden_size: 32,
        projection_dim: null,
      });
      assert.ok(!fs.existsSync(path.join(out, 'embedding_head.safetensors')));
    });
  }

  test('full fine-tuning trains every parameter the forward pass uses, by Hugging Face name; the changes survive save and load', async () => {
    const encoder = await loadImageEncoder(PLAIN, { finetune: { kind: 'full' } });
    try {
      const vars = encoder.trainableVariables();
      const original = readSafetensors(path.join(PLAIN, 'model.safetensors')).tensors;
      assert.deepEqual(
        [...vars.keys()].sort(),
        [...original.keys()].filter((n) => n !== 'embeddings.mask_token').sort(),
      );
      assert.ok([...vars.values()].every((v) => v.trainable));
      // Gradients reach the position embeddings through the bicubic resize (70 px: 5x5 grid from 4x4).
      const pos = vars.get('embeddings.position_embeddings')!;
      const { value, grads } = tf.variableGrads(() => tf.sum(encoder.embed(x)) as never, [pos]);
      value.dispose();
      assert.ok(take(tf.max(tf.abs(grads[pos.name]!)))[0]! > 0);
      tf.dispose(Object.values(grads));

      const w = vars.get('encoder.layer.1.mlp.fc2.weight')!;
      w.assign(tf.tidy(() => tf.mul(w, 1.5)));
      const expected = take(encoder.embed(x));
      saveFullModel(encoder, path.join(dir, 'tuned'));
      const back = await loadImageEncoder(path.join(dir, 'tuned'));
      try {
        assert.ok(maxAbsDiff(take(back.embed(x)), expected) < 1e-6);
        assert.equal(back.trainableVariables().size, 0);
      } finally {
        back.dispose();
      }
    } finally {
      encoder.dispose();
    }
  });

  test('frozen position embeddings are cached per grid, and assigning them takes effect', async () => {
    const encoder = await loadImageEncoder(PLAIN);
    try {
      const before = take(encoder.embed(x));
      assert.deepEqual(take(encoder.embed(x)), before);
      const pos = encoder.baseVariables().get('embeddings.position_embeddings')!;
      pos.assign(tf.tidy(() => tf.mul(pos, 2)));
      assert.ok(maxAbsDiff(take(encoder.embed(x)), before) > 1e-3);
    } finally {
      encoder.dispose();
    }
  });

  test('saving a full model with unmerged LoRA writes the merged weights', async () => {
    const encoder = await loadImageEncoder(PLAIN, {
      finetune: { kind: 'lora', settings: { r: 2, alpha: 4, dropout: 0, targetModules: ['query', 'fc1'] } },
    });
    try {
      for (const [name, v] of encoder.trainableVariables())
        if (name.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.5, 'float32', 5)));
      const expected = take(encoder.embed(x));
      saveFullModel(encoder, path.join(dir, 'merged'));
      assert.ok(encoder.loraSettings, 'saving does not merge the live encoder');
      const back = await loadImageEncoder(path.join(dir, 'merged'));
      try {
        assert.ok(maxAbsDiff(take(back.embed(x)), expected) < 1e-5);
      } finally {
        back.dispose();
      }
      assert.throws(
        () => saveAdapter(encoder, path.join(dir, 'merged')),
        /already holds config\.json \(a full model\)/,
      );
    } finally {
      encoder.dispose();
    }
  });

  test('projection head and pooling: created seeded, saved in embedding_head.*, loaded back; a size conflict is an error', async () => {
    const encoder = await loadImageEncoder(PLAIN, {
      projectionDim: 8,
      pooling: 'mean',
      finetune: { kind: 'full' },
      seed: 3,
    });
    const out = path.join(dir, 'head');
    try {
      assert.equal(encoder.embeddingDim, 8);
      assert.ok(encoder.trainableVariables().has('projection.weight'));
      const expected = take(encoder.embed(x));
      assert.equal(expected.length, 8);
      saveFullModel(encoder, out);
      const head = readSafetensors(path.join(out, 'embedding_head.safetensors'));
      assert.deepEqual(head.tensors.get('projection.weight')!.shape, [8, 32]);
      const back = await loadImageEncoder(out);
      try {
        assert.equal(back.pooling, 'mean');
        assert.equal(back.projectionDim, 8);
        assert.ok(maxAbsDiff(take(back.embed(x)), expected) < 1e-6);
      } finally {
        back.dispose();
      }
      await assert.rejects(
        loadImageEncoder(out, { projectionDim: 16 }),
        /its projection head maps to 8 dimensions, but projection_dim is 16/,
      );
    } finally {
      encoder.dispose();
    }
  });

  test('the training image_size replaces the crop size; the resize edge keeps its ratio', async () => {
    const encoder = await loadImageEncoder(PLAIN, { imageSize: 112 });
    try {
      assert.equal(encoder.processing.imageSize, 112);
      assert.equal(encoder.processing.resizeShortestEdge, 128);
    } finally {
      encoder.dispose();
    }
    await assert.rejects(
      loadImageEncoder(PLAIN, { imageSize: 100 }),
      /`image_size` is 100; it must be a positive multiple of the patch size 14/,
    );
  });

  /** The model in `folder` embeds exactly as the plain fixture it was rewritten from. */
  async function assertEmbedsLikePlain(folder: string): Promise<void> {
    const a = await loadImageEncoder(PLAIN);
    const b = await loadImageEncoder(folder);
    try {
      assert.deepEqual(take(b.embed(x)), take(a.embed(x)));
    } finally {
      a.dispose();
      b.dispose();
    }
  }

  test('a checkpoint of a task model (tensors under "dinov2.") loads', async () => {
    const folder = copyOf('plain', 'prefixed');
    const original = readSafetensors(path.join(folder, 'model.safetensors')).tensors;
    writeSafetensors(
      path.join(folder, 'model.safetensors'),
      new Map([...original].map(([n, t]) => [`dinov2.${n}`, t] as const)),
    );
    await assertEmbedsLikePlain(folder);
  });

  test('a sharded checkpoint (model.safetensors.index.json) loads', async () => {
    const folder = copyOf('plain', 'sharded');
    const tensors = [...readSafetensors(path.join(folder, 'model.safetensors')).tensors];
    fs.rmSync(path.join(folder, 'model.safetensors'));
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(path.join(folder, file), new Map(part));
      for (const [name] of part) weightMap[name] = file;
    });
    fs.writeFileSync(
      path.join(folder, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await assertEmbedsLikePlain(folder);
  });

  describe('bad folders fail with the file, the tensor and what to do', () => {
    test('not a folder / no config.json / not DINOv2', async () => {
      await assert.rejects(loadImageEncoder(path.join(dir, 'absent')), /absent: not a folder/);
      fs.mkdirSync(path.join(dir, 'empty'));
      await assert.rejects(
        loadImageEncoder(path.join(dir, 'empty')),
        /empty: no config\.json; a model folder holds config\.json and model\.safetensors/,
      );
      const vit = copyOf('plain', 'vit');
      fs.writeFileSync(path.join(vit, 'config.json'), JSON.stringify({ model_type: 'vit', hidden_size: 32 }));
      await assert.rejects(
        loadImageEncoder(vit),
        /config\.json: `model_type` is "vit"; this engine runs DINOv2 models only/,
      );
    });

    test('missing tensor / wrong shape / pickle only', async () => {
      const folder = copyOf('plain', 'broken');
      const file = path.join(folder, 'model.safetensors');
      const tensors = readSafetensors(file).tensors;
      const fc1 = 'encoder.layer.1.mlp.fc1.weight';
      const missing = new Map(tensors);
      missing.delete(fc1);
      writeSafetensors(file, missing);
      await assert.rejects(
        loadImageEncoder(folder),
        /broken[/\\]model\.safetensors: no tensor "encoder\.layer\.1\.mlp\.fc1\.weight"; the weights do not match config\.json/,
      );
      writeSafetensors(
        file,
        new Map(
          [...tensors].map(
            ([n, t]) => [n, n === fc1 ? { shape: [128, 16], data: t.data.subarray(0, 2048) } : t] as const,
          ),
        ),
      );
      await assert.rejects(
        loadImageEncoder(folder),
        /tensor "encoder\.layer\.1\.mlp\.fc1\.weight" has shape \[128, 16\], but config\.json \(hidden_size 32, .*\) implies \[128, 32\]/,
      );
      fs.rmSync(file);
      fs.writeFileSync(path.join(folder, 'pytorch_model.bin'), 'pickle');
      await assert.rejects(
        loadImageEncoder(folder),
        /no model\.safetensors \(only pytorch_model\.bin, a pickle this engine cannot read; convert it/,
      );
    });

    test('a model is not saved over an adapter folder', async () => {
      const encoder = await loadImageEncoder(PLAIN);
      try {
        const folder = path.join(dir, 'adapter-here');
        fs.mkdirSync(folder);
        fs.writeFileSync(path.join(folder, 'adapter_config.json'), '{}');
        assert.throws(() => saveFullModel(encoder, folder), /already holds adapter_config\.json \(a LoRA adapter\)/);
      } finally {
        encoder.dispose();
      }
    });
  });
});
