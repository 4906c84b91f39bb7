/**
 * LoRA: a fresh adapter changes nothing, only adapters train, dropout is
 * reproducible by seed, saved adapters are PEFT files that load back to the
 * same outputs, merging equals the unmerged model, and target modules are
 * matched as PEFT matches them.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, type Tensor4D } from '../../../src/engine/backend/tf';
import { readSafetensors } from '../../../src/engine/io/safetensors';
import {
  adapterTargetModules,
  loadImageEncoder,
  saveAdapter,
  type Dinov2ImageEncoder,
  type LoraSettings,
} from '../../../src/engine/model';
import { randomDinov2Encoder } from '../../../src/engine/model/random';
import { FIXTURES, fixtureInputs, maxAbsDiff, pixels, take, tempDir, useWasm } from './helpers';

const PLAIN = path.join(FIXTURES, 'plain');
const BASE_NAME = 'tiny-random/dinov2-plain';
const LORA: LoraSettings = { r: 4, alpha: 8, dropout: 0.25, targetModules: null };
const resolveBase = async (name: string): Promise<string> => {
  assert.equal(name, BASE_NAME);
  return PLAIN;
};

let dir: string;
let x: Tensor4D;
before(async () => {
  await useWasm();
  dir = tempDir('lora');
  x = pixels(fixtureInputs().get('nonsquare')!);
});
after(() => {
  x.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function loraEncoder(settings: LoraSettings = LORA, seed = 0): Promise<Dinov2ImageEncoder> {
  return loadImageEncoder(PLAIN, { finetune: { kind: 'lora', settings }, nameOrPath: BASE_NAME, seed });
}

/** Give every B random values, so that the adapters change the output. */
function randomiseB(encoder: Dinov2ImageEncoder, seed = 9): void {
  let s = seed;
  for (const [name, v] of encoder.trainableVariables()) {
    if (name.endsWith('lora_B.weight')) v.assign(tf.tidy(() => tf.randomNormal(v.shape, 0, 0.3, 'float32', s++)));
  }
}

describe('LoRA', () => {
  test('with B = 0 the model equals the base model exactly, in evaluation and in training (dropout on)', async () => {
    const base = await loadImageEncoder(PLAIN);
    const lora = await loraEncoder();
    try {
      const expected = take(base.embed(x));
      assert.deepEqual(take(lora.embed(x)), expected);
      assert.deepEqual(take(lora.embed(x, { training: true, dropoutSeed: 1 })), expected);
    } finally {
      base.dispose();
      lora.dispose();
    }
  });

  test('trainableVariables: A [in, r] and B [r, out] by PEFT module name, base frozen; A seeded as PEFT initialises it', async () => {
    const lora = await loraEncoder();
    const again = await loraEncoder();
    const other = await loraEncoder(LORA, 1);
    try {
      const vars = lora.trainableVariables();
      const names = [...vars.keys()];
      assert.equal(names.length, 2 /* layers */ * 4 /* modules */ * 2);
      assert.ok(names.includes('encoder.layer.0.attention.attention.query.lora_A.weight'));
      assert.ok(names.includes('encoder.layer.1.attention.output.dense.lora_B.weight'));
      assert.ok(
        names.every((n) =>
          /^encoder\.layer\.\d\.attention\.(attention\.(query|key|value)|output\.dense)\.lora_[AB]\.weight$/.test(n),
        ),
      );
      for (const [name, v] of vars) {
        assert.ok(v.trainable, name);
        assert.deepEqual(v.shape, name.endsWith('lora_A.weight') ? [32, 4] : [4, 32]);
      }
      // A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform, a = sqrt 5), B = 0.
      const a = vars.get('encoder.layer.0.attention.attention.query.lora_A.weight')!.dataSync();
      assert.ok(a.every((value) => Math.abs(value) <= 1 / Math.sqrt(32)));
      assert.ok(new Set(a).size > 100);
      assert.ok(
        vars
          .get('encoder.layer.0.attention.attention.query.lora_B.weight')!
          .dataSync()
          .every((value) => value === 0),
      );
      // Same seed, same A; another seed, another A.
      assert.deepEqual(
        again.trainableVariables().get('encoder.layer.0.attention.attention.query.lora_A.weight')!.dataSync(),
        a,
      );
      assert.notDeepEqual(
        other.trainableVariables().get('encoder.layer.0.attention.attention.query.lora_A.weight')!.dataSync(),
        a,
      );
    } finally {
      lora.dispose();
      again.dispose();
      other.dispose();
    }
  });

  test('gradients reach the adapters only (A gets none while B is zero, as in PEFT)', async () => {
    const lora = await loraEncoder();
    try {
      const vars = [...lora.trainableVariables().values()];
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(lora.embed(x, { training: true, dropoutSeed: 3 }))) as never,
        vars,
      );
      value.dispose();
      const byName = new Map([...lora.trainableVariables()].map(([n, v]) => [n, grads[v.name]] as const));
      const norm = (name: string): number => take(tf.max(tf.abs(byName.get(name)!)))[0]!;
      assert.ok(norm('encoder.layer.0.attention.attention.value.lora_B.weight') > 0);
      assert.equal(norm('encoder.layer.0.attention.attention.value.lora_A.weight'), 0);
      assert.equal(Object.keys(grads).length, vars.length);
      tf.dispose(Object.values(grads));
    } finally {
      lora.dispose();
    }
  });

  test('dropout: the same dropoutSeed gives the same output, another seed another one; no dropout outside training', async () => {
    const lora = await loraEncoder();
    try {
      randomiseB(lora);
      const eval1 = take(lora.embed(x));
      const s3 = take(lora.embed(x, { training: true, dropoutSeed: 3 }));
      assert.deepEqual(take(lora.embed(x, { training: true, dropoutSeed: 3 })), s3);
      assert.notDeepEqual(take(lora.embed(x, { training: true, dropoutSeed: 4 })), s3);
      assert.notDeepEqual(s3, eval1);
      assert.deepEqual(take(lora.embed(x, { dropoutSeed: 3 })), eval1);
    } finally {
      lora.dispose();
    }
  });

  test('a saved adapter (transformers4 layout) is PEFT files (config fields, key names, [r, in] / [out, r]) and loads back to the same outputs', async () => {
    const lora = await loraEncoder();
    const out = path.join(dir, 'adapter');
    try {
      randomiseB(lora);
      const expected = take(lora.embed(x));
      // The 4.x layout: the Python reference fixture was made under transformers 4.x.
      saveAdapter(lora, out, { layout: 'transformers4' });
      const config = JSON.parse(fs.readFileSync(path.join(out, 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.equal(config.peft_type, 'LORA');
      assert.equal(config.r, 4);
      assert.equal(config.lora_alpha, 8);
      assert.equal(config.lora_dropout, 0.25);
      assert.deepEqual(config.target_modules, ['dense', 'key', 'query', 'value']);
      assert.equal(config.base_model_name_or_path, BASE_NAME);
      assert.equal(config.bias, 'none');
      assert.equal(config.task_type, null);
      assert.equal(config.inference_mode, true);
      assert.equal(config.use_rslora, false);
      assert.deepEqual(config.auto_mapping, {
        base_model_class: 'Dinov2Model',
        parent_library: 'transformers.models.dinov2.modeling_dinov2',
      });

      const saved = readSafetensors(path.join(out, 'adapter_model.safetensors'));
      assert.deepEqual(saved.metadata, { format: 'pt' });
      // The same keys as the PEFT adapter made by the Python reference.
      const reference = readSafetensors(path.join(FIXTURES, 'plain-lora', 'adapter_model.safetensors'));
      assert.deepEqual([...saved.tensors.keys()].sort(), [...reference.tensors.keys()].sort());
      assert.deepEqual(
        saved.tensors.get('base_model.model.encoder.layer.0.attention.attention.query.lora_A.weight')!.shape,
        [4, 32],
      );
      assert.deepEqual(
        saved.tensors.get('base_model.model.encoder.layer.0.attention.attention.query.lora_B.weight')!.shape,
        [32, 4],
      );

      const loaded = await loadImageEncoder(out, { resolveBase });
      try {
        assert.ok(maxAbsDiff(take(loaded.embed(x)), expected) < 1e-6);
        assert.deepEqual(loaded.loraSettings, {
          r: 4,
          alpha: 8,
          dropout: 0.25,
          targetModules: ['dense', 'key', 'query', 'value'],
          useRslora: false,
        });
        assert.equal(loaded.trainableVariables().size, 0, 'loaded for inference: nothing trains');
      } finally {
        loaded.dispose();
      }
      // Resuming training from the adapter: same r/alpha/targets, adapters trainable, dropout from the request.
      const resumed = await loadImageEncoder(out, {
        resolveBase,
        finetune: { kind: 'lora', settings: { ...LORA, dropout: 0.1 } },
      });
      try {
        assert.equal(resumed.trainableVariables().size, 16);
        assert.equal(resumed.loraSettings!.dropout, 0.1);
        assert.ok(maxAbsDiff(take(resumed.embed(x)), expected) < 1e-6);
      } finally {
        resumed.dispose();
      }
      await assert.rejects(
        loadImageEncoder(out, { resolveBase, finetune: { kind: 'lora', settings: { ...LORA, r: 8 } } }),
        /the adapter has r=4, lora_alpha=8, but training asks for r=8, lora_alpha=8/,
      );
      // Full fine-tuning from an adapter folds it in first.
      const full = await loadImageEncoder(out, { resolveBase, finetune: { kind: 'full' } });
      try {
        assert.equal(full.loraSettings, null);
        assert.ok(full.trainableVariables().has('encoder.layer.0.attention.attention.query.weight'));
        assert.ok(maxAbsDiff(take(full.embed(x)), expected) < 1e-5);
      } finally {
        full.dispose();
      }
    } finally {
      lora.dispose();
    }
  });

  test('adapter layouts: transformers5 by default (q_proj ... o_proj), both read back to the same outputs, targets may use either names', async () => {
    const lora = await loraEncoder();
    const out5 = path.join(dir, 'layout5');
    const out4 = path.join(dir, 'layout4');
    try {
      randomiseB(lora);
      const expected = take(lora.embed(x));
      saveAdapter(lora, out5);
      saveAdapter(lora, out4, { layout: 'transformers4' });
      const config5 = JSON.parse(fs.readFileSync(path.join(out5, 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      assert.deepEqual(config5.target_modules, ['k_proj', 'o_proj', 'q_proj', 'v_proj']);
      const keys5 = [...readSafetensors(path.join(out5, 'adapter_model.safetensors')).tensors.keys()].sort();
      assert.deepEqual(
        keys5.filter((k) => k.includes('layer.0.')),
        ['k_proj', 'o_proj', 'q_proj', 'v_proj'].flatMap((m) =>
          ['A', 'B'].map((w) => `base_model.model.encoder.layer.0.attention.${m}.lora_${w}.weight`),
        ),
      );
      const keys4 = [...readSafetensors(path.join(out4, 'adapter_model.safetensors')).tensors.keys()];
      assert.equal(keys4.length, keys5.length);
      assert.ok(keys4.every((k) => !/_proj\./.test(k)));
      for (const folder of [out5, out4]) {
        const loaded = await loadImageEncoder(folder, { resolveBase });
        try {
          assert.deepEqual(
            take(loaded.embed(x)),
            expected,
            `${path.basename(folder)} reads back to the same embeddings`,
          );
        } finally {
          loaded.dispose();
        }
      }
    } finally {
      lora.dispose();
    }
    // 5.x target names select the same layers as their 4.x twins, and are written in the layout asked for.
    const named5 = await loraEncoder({ ...LORA, targetModules: ['q_proj', 'v_proj', 'fc2'] });
    const named4 = await loraEncoder({ ...LORA, targetModules: ['query', 'value', 'fc2'] });
    try {
      assert.deepEqual(named5.loraModules(), named4.loraModules());
      assert.equal(named5.loraModules().length, 6);
      const back4 = path.join(dir, 'named5-as-4');
      saveAdapter(named5, back4, { layout: 'transformers4' });
      const c = JSON.parse(fs.readFileSync(path.join(back4, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(c.target_modules, ['fc2', 'query', 'value']);
    } finally {
      named5.dispose();
      named4.dispose();
    }
    // A regular expression that picks one layer's query is written as that layer's full 5.x path, not as every q_proj.
    const one = await loraEncoder({ ...LORA, targetModules: 'encoder\\.layer\\.0\\.attention\\.attention\\.query' });
    try {
      const d = path.join(dir, 'one5');
      saveAdapter(one, d);
      const c = JSON.parse(fs.readFileSync(path.join(d, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(c.target_modules, ['encoder.layer.0.attention.q_proj']);
    } finally {
      one.dispose();
    }
  });

  test("SwiGLU's fused weights_in cannot be written in the transformers5 layout: a clear error, and the 4.x layout works", async () => {
    const swiglu = await loadImageEncoder(path.join(FIXTURES, 'swiglu'), {
      finetune: { kind: 'lora', settings: { ...LORA, targetModules: ['weights_in', 'weights_out'] } },
    });
    try {
      // Training checks this up front (adapterTargetModules), before any step.
      assert.throws(() => adapterTargetModules(swiglu, 'transformers5'), /two layers in transformers 5/);
      assert.deepEqual(adapterTargetModules(swiglu, 'transformers4'), ['weights_in', 'weights_out']);
      assert.throws(
        () => saveAdapter(swiglu, path.join(dir, 'swiglu5')),
        /two layers in transformers 5 \(mlp\.gate_proj, mlp\.up_proj\).*adapter_layout: transformers4/,
      );
      assert.ok(!fs.existsSync(path.join(dir, 'swiglu5', 'adapter_config.json')), 'nothing written');
      saveAdapter(swiglu, path.join(dir, 'swiglu4'), { layout: 'transformers4' });
    } finally {
      swiglu.dispose();
    }
  });

  test('merged LoRA equals unmerged within 1e-5', async () => {
    const lora = await loraEncoder();
    try {
      randomiseB(lora);
      const unmerged = take(lora.embed(x));
      lora.mergeLora();
      const merged = take(lora.embed(x));
      const d = maxAbsDiff(merged, unmerged);
      assert.ok(d < 1e-5, `differs by ${d}`);
      assert.notEqual(d, Infinity);
      assert.equal(lora.loraSettings, null);
      assert.equal(lora.trainableSet, 'none');
      assert.throws(() => saveAdapter(lora, path.join(dir, 'nothing')), /no LoRA adapters to save/);
    } finally {
      lora.dispose();
    }
  });

  describe('target modules, matched as PEFT does', () => {
    const tiny = { hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, image_size: 28 };
    const count = (targets: LoraSettings['targetModules']): number => {
      const e = randomDinov2Encoder(tiny);
      try {
        e.addLora({ r: 2, alpha: 2, dropout: 0, targetModules: targets });
        return e.loraModules().length;
      } finally {
        e.dispose();
      }
    };
    test('names match the end of the module path; a string is a full-match regex; "all-linear" takes every linear layer', () => {
      assert.equal(count(null), 8);
      assert.equal(count(['query', 'value']), 4);
      assert.equal(count(['fc1', 'fc2']), 4);
      assert.equal(count(['encoder.layer.1.attention.attention.key']), 1);
      assert.equal(count('.*\\.0\\..*(query|fc2)'), 2);
      assert.equal(count('all-linear'), 12);
    });
    test('matching a module that is not a linear layer, or nothing at all, is an error', () => {
      assert.throws(() => count(['norm1']), /matches `encoder\.layer\.0\.norm1`, which is not a linear layer/);
      assert.throws(() => count(['projection']), /not a linear layer/);
      assert.throws(() => count(['attention']), /`encoder\.layer\.0\.attention`, which is not a linear layer/);
      assert.throws(() => count(['qkv']), /match no linear layer of this model/);
      assert.throws(() => count([]), /empty list/);
    });
  });

  test('adapters with options this engine does not implement are refused with the reason', async () => {
    const out = path.join(dir, 'dora');
    fs.mkdirSync(out, { recursive: true });
    const config = JSON.parse(
      fs.readFileSync(path.join(FIXTURES, 'plain-lora', 'adapter_config.json'), 'utf8'),
    ) as Record<string, unknown>;
    fs.writeFileSync(path.join(out, 'adapter_config.json'), JSON.stringify({ ...config, use_dora: true }));
    await assert.rejects(
      loadImageEncoder(out, { resolveBase }),
      /uses DoRA \(`use_dora`: true\), which this engine does not implement/,
    );
    fs.writeFileSync(
      path.join(out, 'adapter_config.json'),
      JSON.stringify({ ...config, base_model_name_or_path: 'nowhere/model' }),
    );
    await assert.rejects(
      loadImageEncoder(out),
      /base model "nowhere\/model" is not a local model folder, and no resolver was given/,
    );
  });
});
