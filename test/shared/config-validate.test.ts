import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  loadConfigText,
  parseOverride,
  validateConfigText,
  formatDiagnostic,
  type Diagnostic,
} from '../../src/shared/config/validate';
import { CONFIG_KEYS, defaultConfig, resolveKeyName, type KeySpec } from '../../src/shared/config/schema';

/** Diagnostics as `line:col code` (one-based), the form a user sees. */
function where(ds: Diagnostic[]): string[] {
  return ds.map((d) => `${d.range ? `${d.range.start.line + 1}:${d.range.start.character + 1}` : '-'} ${d.code}`);
}

describe('config validation', () => {
  test('the brief example config is clean', () => {
    const text = [
      'model_type: "custom"',
      'model_name: "facebook/dinov2-small"',
      'retrieval_mode: "i2i"',
      'use_lora: true',
      'data_path: "data/stanford_online_products/train.jsonl"',
      'image_root: "data/stanford_online_products"',
      'epochs: 20',
      'batch_size: 128',
      'loss_type: "infonce"',
      'learning_rate: 5.0e-5',
    ].join('\n');
    const r = validateConfigText(text);
    assert.deepEqual(r.diagnostics, []);
    assert.equal(r.values.learning_rate, 5e-5);
    assert.equal(r.values.batch_size, 128);
  });

  test('the four problems of the issue are each named at their line', () => {
    const text = [
      'model_name: facebook/dinov2-small',
      'learning_rte: 1e-4',
      'batch_size: "big"',
      'loss_type: infonse',
      'lr: 1e-4',
      'learning_rate: 5.0e-5',
    ].join('\n');
    const { diagnostics } = validateConfigText(text);
    assert.deepEqual(where(diagnostics), [
      '2:1 unknown-key',
      '3:13 wrong-type',
      '4:12 unknown-value',
      '5:1 alias-conflict',
    ]);
    assert.match(diagnostics[0]!.message, /Did you mean `learning_rate`\?/);
    assert.deepEqual(diagnostics[0]!.fix, { kind: 'rename-key', to: 'learning_rate' });
    assert.match(diagnostics[1]!.message, /must be an integer, got the string "big"/);
    assert.deepEqual(diagnostics[2]!.fix, { kind: 'set-value', value: 'infonce' });
    assert.match(diagnostics[3]!.message, /Both `lr` \(line 5\) and `learning_rate` \(line 6\)/);
  });

  test('ranges cover the whole offending node', () => {
    const { diagnostics } = validateConfigText('epochs: 20\nbatch_size: "big"\n');
    assert.deepEqual(diagnostics[0]!.range, { start: { line: 1, character: 12 }, end: { line: 1, character: 17 } });
  });

  test('an alias alone sets the canonical key; the same value twice is only a warning', () => {
    assert.equal(validateConfigText('lr: 0.001').values.learning_rate, 0.001);
    const r = validateConfigText('learning_rate: 0.001\nlr: 0.001\n');
    assert.deepEqual(where(r.diagnostics), ['2:1 alias-duplicate']);
    assert.equal(r.diagnostics[0]!.severity, 'warning');
    assert.equal(r.values.learning_rate, 0.001);
  });

  test('a not-implemented mode is an error that says so plainly', () => {
    const { diagnostics } = validateConfigText('retrieval_mode: t2i\n');
    assert.equal(diagnostics.length, 1);
    assert.equal(diagnostics[0]!.code, 'not-implemented');
    assert.match(diagnostics[0]!.message, /not implemented by vembed/);
    assert.match(diagnostics[0]!.message, /Use `i2i`/);
  });

  test('a key this project ignores warns only when set to something other than its default', () => {
    assert.deepEqual(validateConfigText('fp16: false').diagnostics, []);
    const d = validateConfigText('fp16: true').diagnostics;
    assert.deepEqual(where(d), ['1:1 ignored-key']);
    assert.equal(d[0]!.severity, 'warning');
  });

  test('out-of-range values propose the nearest allowed value', () => {
    const d = validateConfigText('lora_dropout: 1.5\nimage_size: 100\nbatch_size: 1\n').diagnostics.filter(
      (x) => x.code === 'out-of-range',
    );
    assert.deepEqual(
      d.map((x) => [x.key, x.fix]),
      [
        ['lora_dropout', { kind: 'set-value', value: '0.99' }],
        ['image_size', { kind: 'set-value', value: '98' }],
        ['batch_size', { kind: 'set-value', value: '2' }],
      ],
    );
    // An exclusive bound has no nearest value to offer.
    const t = validateConfigText('temperature: 0').diagnostics;
    assert.equal(t[0]!.code, 'out-of-range');
    assert.equal(t[0]!.fix, undefined);
  });

  test('types: booleans written as yes/no get a hint; quoted numbers get a hint; lists and maps are checked', () => {
    const d = validateConfigText(
      'use_lora: yes\nepochs: "3"\nlora_target_modules: query\ncolumn_mapping: {query_image: img, lable: sku}\n',
    ).diagnostics;
    assert.deepEqual(where(d), ['1:11 wrong-type', '2:9 wrong-type', '3:22 wrong-type', '4:17 unknown-key']);
    assert.match(d[0]!.message, /write true or false/);
    assert.match(d[1]!.message, /Remove the quotes/);
    assert.match(d[2]!.message, /Write it as a list: \[query\]/);
    assert.match(d[3]!.message, /Did you mean `label`\?/);
  });

  test('null is accepted only for nullable keys', () => {
    assert.deepEqual(validateConfigText('projection_dim: null\nval_data_path: ~\n').diagnostics, []);
    assert.deepEqual(where(validateConfigText('epochs: null\n').diagnostics), ['1:9 wrong-type']);
  });

  test('cross-key checks: LoRA keys without LoRA, batch not a multiple of the chunk', () => {
    const d = validateConfigText(
      'use_lora: false\nlora_r: 8\nbatch_size: 30\ngradient_cache_chunk_size: 8\n',
    ).diagnostics;
    assert.deepEqual(where(d), ['2:1 lora-unused', '4:28 chunk-divisor']);
    assert.ok(d.every((x) => x.severity === 'warning'));
  });

  test('cross-key checks: sampler keys under the random sampler; none under m_per_product', () => {
    const d = validateConfigText('images_per_product: 4\nhard_negative_mining: true\n').diagnostics;
    assert.deepEqual(where(d), ['1:1 sampler-unused', '2:1 sampler-unused']);
    assert.match(d[0]!.message, /`batch_sampler` is `random`/);
    const ok =
      'batch_sampler: m_per_product\nimages_per_product: 4\ngroup_by_super_label: false\nhard_negative_mining: true\n';
    assert.deepEqual(validateConfigText(ok).diagnostics, []);
    assert.deepEqual(where(validateConfigText('batch_sampler: per_class\n').diagnostics), ['1:16 unknown-value']);
  });

  test('YAML syntax errors and duplicate keys are reported, not thrown', () => {
    const syntax = validateConfigText('epochs: [1, 2\nbatch_size: 4\n').diagnostics;
    assert.equal(syntax[0]!.code, 'yaml-syntax');
    assert.ok(syntax[0]!.range);
    const dup = validateConfigText('epochs: 1\nepochs: 2\n').diagnostics;
    assert.deepEqual(where(dup), ['2:1 duplicate-key']);
  });

  test('a billion-laughs alias bomb is reported, not expanded', () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      lines.push(`${cur}: &${cur} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`);
    }
    const started = Date.now();
    const d = validateConfigText(lines.join('\n')).diagnostics;
    assert.equal(d.length, 1);
    assert.equal(d[0]!.code, 'yaml-alias-bomb');
    assert.equal(d[0]!.range!.start.line, 1, 'points at the first alias');
    assert.ok(Date.now() - started < 5000);
  });

  test('a top level that is not a mapping is one clear error; an empty file is fine', () => {
    assert.deepEqual(where(validateConfigText('- a\n- b\n').diagnostics), ['1:1 not-a-mapping']);
    assert.deepEqual(validateConfigText('').diagnostics, []);
    assert.deepEqual(validateConfigText('# only a comment\n').diagnostics, []);
  });

  test('formatDiagnostic prints compiler-style one-based positions', () => {
    const d = validateConfigText('\n  \nepochs: x\n').diagnostics[0]!;
    assert.equal(formatDiagnostic(d, 'c.yaml'), 'c.yaml:3:9: error: `epochs` must be an integer, got the string "x".');
  });
});

describe('overrides and merging', () => {
  test('defaults < file < overrides, with typed parsing', () => {
    const r = loadConfigText('epochs: 5\nbatch_size: 64\nmodel_name: facebook/dinov2-base\n', [
      'batch_size=16',
      'lr=1e-4',
      'use_lora=true',
      'lora_target_modules=query,value',
      'model_name=123',
      'projection_dim=null',
    ]);
    assert.deepEqual(r.diagnostics, []);
    const c = r.config!;
    assert.equal(c.epochs, 5, 'from the file');
    assert.equal(c.batch_size, 16, 'override wins');
    assert.equal(c.learning_rate, 1e-4, 'alias override sets the canonical key');
    assert.equal(c.use_lora, true);
    assert.deepEqual(c.lora_target_modules, ['query', 'value']);
    assert.equal(c.model_name, '123', 'a string key keeps the text of a number');
    assert.equal(c.projection_dim, null);
    assert.equal(c.temperature, defaultConfig().temperature, 'untouched keys keep their defaults');
  });

  test('YAML list syntax works in overrides', () => {
    assert.deepEqual(parseOverride('lora_target_modules=[query, key]').value, ['query', 'key']);
  });

  test('bad overrides are errors naming the flag', () => {
    const r = loadConfigText('', ['batch_size=big', 'learning_rte=1', 'noequals']);
    assert.equal(r.config, undefined);
    assert.deepEqual(
      r.diagnostics.map((d) => d.code),
      ['wrong-type', 'unknown-key', 'bad-override'],
    );
    assert.match(r.diagnostics[0]!.message, /^`--set batch_size=big`: `batch_size` must be an integer/);
    assert.match(r.diagnostics[1]!.message, /Did you mean `learning_rate`\?/);
    assert.equal(formatDiagnostic(r.diagnostics[2]!, 'c.yaml').startsWith('command line: error:'), true);
  });

  test('a file with errors yields no config', () => {
    assert.equal(loadConfigText('epochs: -1\n').config, undefined);
    assert.ok(loadConfigText(null).config, 'no file at all: the defaults');
  });
});

describe('the schema table', () => {
  test("every default passes its own key's validation", () => {
    for (const spec of CONFIG_KEYS as readonly KeySpec[]) {
      const text = `${spec.key}: ${JSON.stringify(spec.default)}\n`;
      const errors = validateConfigText(text).diagnostics.filter((d) => d.severity === 'error' && d.key === spec.key);
      assert.deepEqual(errors, [], spec.key);
    }
  });

  test('names are unique across keys and aliases, and aliases resolve', () => {
    const names = (CONFIG_KEYS as readonly KeySpec[]).flatMap((s) => [s.key, ...(s.aliases ?? [])]);
    assert.equal(new Set(names).size, names.length);
    assert.equal(resolveKeyName('lr')?.spec.key, 'learning_rate');
    assert.equal(resolveKeyName('lr')?.isAlias, true);
  });

  test('every key has documentation and every enum default is an implemented value', () => {
    for (const spec of CONFIG_KEYS as readonly KeySpec[]) {
      assert.ok(spec.summary.length > 10 && spec.doc.length > 10, spec.key);
      if (spec.enum) {
        const d = spec.enum.find((e) => e.value === spec.default);
        assert.ok(d && d.implemented !== false, spec.key);
      }
    }
  });
});
