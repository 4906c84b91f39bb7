/**
 * Configs written for vembed-factory, the Python tool vembed replaces: its
 * DINOv2 image-to-image config validates with warnings only, its keys that
 * vembed does not implement are named as such (not "unknown key"), and a value
 * that turns on a feature vembed lacks is an error that says so. The configs
 * are written here, in the shape of vembed-factory's files (same keys and
 * values), not copied from it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigText, parseOverride, validateConfigText, type Diagnostic } from '../../src/shared/config/validate';
import {
  CONFIG_KEYS,
  SEED_TOOL_KEYS,
  resolveKeyName,
  seedToolKey,
  type EnumValue,
} from '../../src/shared/config/schema';
import { hover } from '../../src/shared/language/hover';
import { toJsonSchema, toMarkdownReference } from '../../src/shared/config/derive';
import { SEED_DINOV2_I2I } from '../helpers/seedToolConfigs';

function lineOf(text: string, key: string): number {
  return text.split('\n').findIndex((l) => l.startsWith(`${key}:`)) + 1;
}

function summary(ds: Diagnostic[]): string[] {
  return ds.map((d) => `${d.range ? d.range.start.line + 1 : '-'} ${d.severity} ${d.code}`);
}

describe("vembed-factory's DINOv2 image-to-image config", () => {
  test('validates with warnings only: `encoder_mode: dino` read as DINOv2, the data-loader keys as having no effect', () => {
    const r = validateConfigText(SEED_DINOV2_I2I);
    assert.deepEqual(summary(r.diagnostics), [
      `${lineOf(SEED_DINOV2_I2I, 'encoder_mode')} warning compat-value`,
      `${lineOf(SEED_DINOV2_I2I, 'pin_memory')} warning seed-tool-key`,
      `${lineOf(SEED_DINOV2_I2I, 'prefetch_factor')} warning seed-tool-key`,
      `${lineOf(SEED_DINOV2_I2I, 'persistent_workers')} warning seed-tool-key`,
    ]);
    const [dino, pin, prefetch, persistent] = r.diagnostics.map((d) => d.message);
    assert.match(dino!, /`encoder_mode: dino` is read as `dinov2`/);
    assert.match(dino!, /DINO v1 checkpoints .* are not supported/);
    for (const [m, key] of [
      [pin, 'pin_memory'],
      [prefetch, 'prefetch_factor'],
      [persistent, 'persistent_workers'],
    ] as const) {
      assert.match(m!, new RegExp(`^\`${key}\` \\(vembed-factory: .*\\) has no effect in vembed: `));
      assert.doesNotMatch(m!, /[Uu]nknown key/);
    }
    assert.match(persistent!, /live for the whole run/);
  });

  test('loads into a config that trains: the values of the keys vembed knows are kept', () => {
    const loaded = loadConfigText(SEED_DINOV2_I2I);
    assert.ok(loaded.config, JSON.stringify(loaded.diagnostics));
    assert.equal(loaded.config.encoder_mode, 'dino');
    assert.equal(loaded.config.learning_rate, 1e-4);
    assert.equal(loaded.config.batch_size, 1024);
    assert.equal(loaded.config.num_workers, 4);
    assert.equal((loaded.config as unknown as Record<string, unknown>).pin_memory, undefined);
  });

  test('`--set` of a vembed-factory key is judged as in the file and changes nothing', () => {
    const off = parseOverride('use_mrl=false');
    assert.deepEqual(summary(off.diagnostics), ['- warning seed-tool-key']);
    assert.equal(off.spec, undefined);
    const on = parseOverride('use_mrl=true');
    assert.equal(on.diagnostics[0]!.severity, 'error');
    assert.match(on.diagnostics[0]!.message, /^`--set use_mrl=true`: `use_mrl: true` is not supported in vembed: /);
  });
});

describe("vembed-factory's keys that vembed does not implement", () => {
  test('none of them is also a vembed key or alias', () => {
    for (const s of SEED_TOOL_KEYS) assert.equal(resolveKeyName(s.key), undefined, s.key);
  });

  test('turning on MRL, distillation, ColBERT pruning or a text tower is an error saying it is not supported', () => {
    const cases: Array<[string, RegExp]> = [
      ['use_mrl: true', /Matryoshka representation learning \(MRL\) is not implemented/],
      ['teacher_model_name: facebook/dinov2-large', /knowledge distillation is not implemented/],
      ['topk_tokens: 32', /ColBERT late interaction is not implemented/],
      ['text_model_name: bert-base-uncased', /text and multimodal encoders is not implemented/],
      ['dry_run: true', /`vembed validate CONFIG` checks a config without training/],
    ];
    for (const [line, message] of cases) {
      const r = validateConfigText(`model_name: facebook/dinov2-small\n${line}`);
      assert.deepEqual(summary(r.diagnostics), ['2 error seed-tool-key'], line);
      const m = r.diagnostics[0]!.message;
      assert.match(m, /is not supported in vembed: /, line);
      assert.match(m, message, line);
      assert.deepEqual(r.diagnostics[0]!.fix, { kind: 'remove-entry' });
      assert.equal(loadConfigText(`${line}\n`).config, undefined, `${line}: nothing may train`);
    }
  });

  test('their values that ask for nothing are warnings, and the config loads', () => {
    const text = [
      'use_mrl: false',
      'mrl_dims: [768, 512, 256, 128]',
      'teacher_model_name: null',
      'distillation_alpha: 0.5',
      'topk_tokens: 0',
      'max_seq_length: 128',
      'torch_dtype: null',
    ].join('\n');
    const r = validateConfigText(text);
    assert.deepEqual(
      r.diagnostics.map((d) => `${d.severity} ${d.code}`),
      Array.from({ length: 7 }, () => 'warning seed-tool-key'),
    );
    assert.ok(loadConfigText(text).config);
  });

  test('`model_name_or_path` is an alias of `model_name`, as in vembed-factory', () => {
    const r = loadConfigText('model_name_or_path: facebook/dinov2-base');
    assert.equal(r.config?.model_name, 'facebook/dinov2-base');
  });

  test("the defaults file's shape: the duplicated key is an error as before, and with it removed no key is unknown", () => {
    // vembed-factory's configs/defaults.yaml sets topk_tokens twice and holds 18 keys vembed does not have.
    const keys = [
      'output_dir: "output"',
      'overwrite_output_dir: true',
      'epochs: 3',
      'batch_size: 32',
      'save_strategy: "epoch"',
      'save_steps: 0',
      'logging_steps: 10',
      'data_path: "data/train.jsonl"',
      'val_data_path: null',
      'max_seq_length: 128',
      'max_image_size: 224',
      'num_workers: 4',
      'pin_memory: true',
      'prefetch_factor: 2',
      'persistent_workers: true',
      'enable_image_cache: false',
      'validate_data: false',
      'skip_invalid_records: true',
      'lr: 2.0e-5',
      'weight_decay: 0.01',
      'max_grad_norm: 1.0',
      'scheduler_type: "cosine"',
      'warmup_ratio: 0.1',
      'warmup_steps: 0',
      'fp16: true',
      'torch_dtype: null',
      'attn_implementation: null',
      'use_gradient_cache: false',
      'gradient_cache_chunk_size: 8',
      'model_name_or_path: null',
      'encoder_mode: "auto"',
      'projection_dim: null',
      'topk_tokens: 0',
      'loss_type: "infonce"',
      'temperature: 0.05',
      'use_mrl: false',
      'mrl_dims: [768, 512, 256, 128]',
      'mrl_weights: [1.0, 1.0, 1.0, 1.0]',
      'teacher_model_name: null',
      'distillation_alpha: 0.5',
      'distillation_temperature: 1.0',
      'distillation_loss_type: "kl"',
      'use_lora: false',
      'lora_r: 16',
      'retrieval_mode: "t2i"',
      'report_to: "none"',
      'debug_gpu_memory: null',
    ];
    const withDuplicate = [...keys, 'topk_tokens: 0'].join('\n');
    assert.deepEqual(summary(validateConfigText(withDuplicate).diagnostics), [
      `${keys.length + 1} error duplicate-key`,
    ]);
    assert.match(
      validateConfigText(withDuplicate).diagnostics[0]!.message,
      /PyYAML, and so vembed-factory, keeps the last/,
    );

    const r = validateConfigText(keys.join('\n'));
    const codes = r.diagnostics.map((d) => d.code);
    assert.ok(!codes.includes('unknown-key'), summary(r.diagnostics).join('\n'));
    const foreign = r.diagnostics.filter((d) => d.code === 'seed-tool-key');
    assert.equal(foreign.length, 17, summary(foreign).join('\n'));
    assert.ok(foreign.every((d) => d.severity === 'warning'));
    // The 18th, model_name_or_path, is read as model_name's alias; null is not a model.
    const names = foreign.map((d) => keys[d.range!.start.line]!.split(':')[0]);
    assert.ok(!names.includes('model_name_or_path'));
    // What is left are vembed's own rules: the text-to-image default, the null model, the unused LoRA rank, fp16.
    assert.deepEqual(
      r.diagnostics
        .filter((d) => d.code !== 'seed-tool-key')
        .map((d) => `${keys[d.range!.start.line]!.split(':')[0]} ${d.code}`),
      ['fp16 ignored-key', 'model_name_or_path wrong-type', 'retrieval_mode not-implemented', 'lora_r lora-unused'],
    );
  });

  test('hover, the JSON Schema and the reference describe them from the one table', () => {
    const h = hover('prefetch_factor: 2\n', { line: 0, character: 3 });
    assert.match(h!.markdown, /a vembed-factory key \(data loading\), not supported in vembed/);
    const strict = toJsonSchema('strict') as { properties: Record<string, { enum?: unknown[] }> };
    for (const s of SEED_TOOL_KEYS) assert.ok(strict.properties[s.key], s.key);
    assert.deepEqual(strict.properties.use_mrl!.enum, [false]);
    const md = toMarkdownReference();
    assert.match(md, /## Keys of vembed-factory that vembed does not support/);
    for (const s of SEED_TOOL_KEYS) assert.ok(md.includes(`| \`${s.key}\` |`), s.key);
    assert.ok(seedToolKey('pin_memory'));
    const dino = (CONFIG_KEYS.find((k) => k.key === 'encoder_mode')!.enum as readonly EnumValue[]).find(
      (e) => e.value === 'dino',
    )!;
    assert.notEqual(dino.implemented, false);
  });
});
