import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { complete, type DirEntry } from '../../src/shared/language/completion';
import { hover } from '../../src/shared/language/hover';
import { applyEdits, codeActionsFor } from '../../src/shared/language/codeActions';
import { codeLenses } from '../../src/shared/language/codeLens';
import { globToRegExp, isTrainingConfig } from '../../src/shared/language/detect';
import { diagnoseConfig } from '../../src/shared/language/diagnostics';
import { validateConfigText } from '../../src/shared/config/validate';
import type { FileProbe } from '../../src/shared/config/workspaceChecks';

/** Cursor written as `|` in the text. */
function at(textWithCursor: string) {
  const offset = textWithCursor.indexOf('|');
  const text = textWithCursor.replace('|', '');
  const before = text.slice(0, offset).split('\n');
  return { text, pos: { line: before.length - 1, character: before[before.length - 1]!.length } };
}

const labels = (items: { label: string }[]) => items.map((i) => i.label);

describe('completion', () => {
  test('on an empty line: keys not yet present, inserted with their default', () => {
    const { text, pos } = at('epochs: 3\nlr: 0.001\n|\n');
    const items = complete(text, pos);
    const names = labels(items);
    assert.ok(
      !names.includes('epochs') && !names.includes('learning_rate'),
      'present keys (and a key set through its alias) are not offered',
    );
    const bs = items.find((i) => i.label === 'batch_size')!;
    assert.equal(bs.insertText, 'batch_size: 32');
    assert.match(bs.documentation!, /default `32`/);
    assert.deepEqual(bs.range, { start: { line: 2, character: 0 }, end: { line: 2, character: 0 } });
    // Not-implemented keys sort after everything else.
    const sorted = [...items].sort((a, b) => a.sortText.localeCompare(b.sortText));
    assert.equal(sorted[sorted.length - 1]!.label, 'fp16');
    assert.equal(sorted[0]!.label, 'model_name');
  });

  test('inside a key being typed, the word is replaced', () => {
    const { text, pos } = at('batc|\n');
    const bs = complete(text, pos).find((i) => i.label === 'batch_size')!;
    assert.deepEqual(bs.range, { start: { line: 0, character: 0 }, end: { line: 0, character: 4 } });
    assert.equal(applyEdits(text, [{ range: bs.range, newText: bs.insertText }]), 'batch_size: 32\n');
  });

  test('renaming a key in front of an existing value keeps the value', () => {
    const { text, pos } = at('learn|ing_rte: 1e-4\n');
    const it = complete(text, pos).find((i) => i.label === 'learning_rate')!;
    assert.equal(applyEdits(text, [{ range: it.range, newText: it.insertText }]), 'learning_rate: 1e-4\n');
  });

  test('enum values (implemented only), booleans, null and model ids after the colon', () => {
    assert.deepEqual(labels(complete(...(Object.values(at('loss_type: |')) as [string, never]))), [
      'infonce',
      'triplet',
    ]);
    assert.deepEqual(labels(complete(...(Object.values(at('use_lora: |')) as [string, never]))), ['true', 'false']);
    const proj = labels(complete(...(Object.values(at('projection_dim: |')) as [string, never])));
    assert.ok(proj.includes('null'));
    const models = labels(complete(...(Object.values(at('model_name: |')) as [string, never])));
    assert.ok(models.includes('facebook/dinov2-small') && models.includes('facebook/dinov2-with-registers-giant'));
  });

  test('a value range covers the old value but not a trailing comment', () => {
    const { text, pos } = at('loss_type: info|nse  # the loss\n');
    const it = complete(text, pos).find((i) => i.label === 'infonce')!;
    assert.equal(applyEdits(text, [{ range: it.range, newText: it.insertText }]), 'loss_type: infonce  # the loss\n');
  });

  test('paths relative to the workspace for path keys', () => {
    const tree: Record<string, DirEntry[]> = {
      '': [
        { name: 'data', isDir: true },
        { name: 'README.md', isDir: false },
        { name: '.git', isDir: true },
      ],
      data: [
        { name: 'sop', isDir: true },
        { name: 'train.jsonl', isDir: false },
        { name: 'notes.txt', isDir: false },
      ],
    };
    const env = { listDir: (d: string) => tree[d] };
    const top = complete(...(Object.values(at('data_path: |')) as [string, never]), env);
    assert.deepEqual(
      labels(top).filter((l) => l.endsWith('/') || l.includes('.')),
      ['data/'],
    );
    const inside = complete(...(Object.values(at('data_path: "data/tr|"')) as [string, never]), env);
    assert.deepEqual(
      inside.filter((i) => i.kind === 'file').map((i) => i.insertText),
      ['data/train.jsonl'],
    );
    const roots = complete(...(Object.values(at('image_root: data/|')) as [string, never]), env);
    assert.deepEqual(
      roots.filter((i) => i.kind !== 'value').map((i) => i.insertText),
      ['data/sop'],
      'folders only for image_root',
    );
  });

  test('list items and column names under their key', () => {
    const { text, pos } = at('use_lora: true\nlora_target_modules:\n  - query\n  - |\n');
    const items = labels(complete(text, pos));
    assert.ok(items.includes('value') && items.includes('key') && !items.includes('query'));
    const cm = at('column_mapping:\n  |\n');
    assert.deepEqual(labels(complete(cm.text, cm.pos)), [
      'query_image',
      'positive',
      'label',
      'negatives',
      'super_label',
    ]);
  });

  test('nothing inside comments or under unknown keys', () => {
    assert.deepEqual(complete(...(Object.values(at('# batc|')) as [string, never])), []);
    assert.deepEqual(complete(...(Object.values(at('learning_rte: |')) as [string, never])), []);
  });
});

describe('hover', () => {
  test('a key shows its documentation, type, default, allowed values and status', () => {
    const h = hover('loss_type: infonce\n', { line: 0, character: 3 })!;
    assert.match(h.markdown, /\*\*loss_type\*\* `string` — default `infonce`/);
    assert.match(h.markdown, /Allowed: `infonce`, `triplet` \(recognised but not implemented: `mrl`/);
    assert.deepEqual(h.range, { start: { line: 0, character: 0 }, end: { line: 0, character: 9 } });
  });

  test('an alias, an unknown key, an enum value, a not-implemented key', () => {
    assert.match(hover('lr: 1\n', { line: 0, character: 1 })!.markdown, /`lr` is an alias of `learning_rate`/);
    assert.match(hover('learning_rte: 1\n', { line: 0, character: 1 })!.markdown, /Did you mean `learning_rate`\?/);
    assert.match(
      hover('retrieval_mode: t2i\n', { line: 0, character: 17 })!.markdown,
      /Text to image\.\n\n\*\*Not implemented by vembed\.\*\*/,
    );
    assert.match(hover('fp16: true\n', { line: 0, character: 1 })!.markdown, /Not implemented by vembed/);
    assert.equal(hover('  - query\n', { line: 0, character: 4 }), undefined);
  });
});

describe('quick fixes', () => {
  const fixAll = (text: string, code: string) => {
    const d = validateConfigText(text).diagnostics.filter((x) => x.code === code);
    const actions = codeActionsFor(text, d);
    assert.equal(actions.length, 1, code);
    return { title: actions[0]!.title, text: applyEdits(text, actions[0]!.edits) };
  };

  test('rename an unknown key to the suggestion', () => {
    assert.deepEqual(fixAll('epochs: 2\nlearning_rte: 1e-4\n', 'unknown-key'), {
      title: "Rename to 'learning_rate'",
      text: 'epochs: 2\nlearning_rate: 1e-4\n',
    });
  });

  test('remove a duplicate alias, multi-line values included', () => {
    assert.equal(
      fixAll('learning_rate: 0.1\nlr: 0.2\nepochs: 1\n', 'alias-conflict').text,
      'learning_rate: 0.1\nepochs: 1\n',
    );
    assert.equal(
      fixAll('learning_rate: 0.1\nepochs: 1\nlr: 0.2', 'alias-conflict').text,
      'learning_rate: 0.1\nepochs: 1\n',
    );
    const t = 'use_lora: true\nfp16: true\nlora_target_modules:\n  - query\n  - value\nepochs: 1\n';
    const d = validateConfigText(t).diagnostics.find((x) => x.code === 'ignored-key')!;
    assert.equal(
      applyEdits(t, codeActionsFor(t, [d])[0]!.edits),
      'use_lora: true\nlora_target_modules:\n  - query\n  - value\nepochs: 1\n',
    );
  });

  test('set an out-of-range value to the nearest allowed one, and a typo to the known value', () => {
    assert.equal(fixAll('lora_dropout: 1.5\n', 'out-of-range').text, 'lora_dropout: 0.99\n');
    assert.equal(fixAll('image_size: 230 # px\n', 'out-of-range').text, 'image_size: 224 # px\n');
    assert.equal(fixAll('loss_type: "infonse"\n', 'unknown-value').text, 'loss_type: infonce\n');
  });

  test('after applying every fix, the config validates', () => {
    let text = 'learning_rte: 1e-4\nloss_type: infonse\nlora_dropout: 2\n';
    for (let i = 0; i < 5; i++) {
      const actions = codeActionsFor(text, validateConfigText(text).diagnostics);
      if (actions.length === 0) break;
      text = applyEdits(text, actions[0]!.edits);
    }
    assert.deepEqual(
      validateConfigText(text).diagnostics.filter((d) => d.severity === 'error'),
      [],
    );
  });
});

describe('workspace checks', () => {
  const files: Record<string, 'file' | 'dir'> = {
    '/ws/data': 'dir',
    '/ws/data/train.jsonl': 'file',
    '/ws/models/tiny': 'dir',
    '/ws/models/tiny/config.json': 'file',
    '/ws/models/empty': 'dir',
  };
  const probe: FileProbe = { kind: (p) => files[p] };
  const codes = (text: string) =>
    diagnoseConfig(text, '/ws', probe).map((d) => `${d.range!.start.line + 1} ${d.code} ${d.severity}`);

  test('paths that do not exist, or are of the wrong kind', () => {
    assert.deepEqual(codes('data_path: data/train.jsonl\nimage_root: data\n'), []);
    assert.deepEqual(codes('data_path: data/missing.jsonl\nimage_root: data/train.jsonl\nval_data_path: data\n'), [
      '1 path-missing warning',
      '2 wrong-type error',
      '3 wrong-type error',
    ]);
  });

  test('model_name: a known id, a model folder, a folder without config.json, nonsense', () => {
    assert.deepEqual(codes('model_name: facebook/dinov2-base\n'), []);
    assert.deepEqual(codes('model_name: models/tiny\n'), []);
    assert.deepEqual(codes('model_name: models/empty\n'), ['1 wrong-type error']);
    assert.deepEqual(codes('model_name: "not a model"\n'), ['1 wrong-type error']);
    assert.deepEqual(codes('model_name: someone/dinov2-finetuned\n'), ['1 unknown-value info']);
  });
});

describe('code lenses and detection', () => {
  test('Train/Validate/Benchmark on a valid config, Validate only with errors, on the first key line', () => {
    const ok = codeLenses('# header\nepochs: 1\n', []);
    assert.deepEqual(
      ok.map((l) => l.action),
      ['train', 'validate', 'benchmark'],
    );
    assert.equal(ok[0]!.range.start.line, 1);
    const bad = 'epochs: x\n';
    assert.deepEqual(
      codeLenses(bad, validateConfigText(bad).diagnostics).map((l) => l.action),
      ['validate'],
    );
  });

  test('configs are recognised by name or by content, other YAML is left alone', () => {
    assert.equal(isTrainingConfig('examples/dinov2_i2i.yaml', ''), true);
    assert.equal(isTrainingConfig('vembed-sop.yaml', ''), true);
    assert.equal(isTrainingConfig('conf/run.yml', 'model_name: x\nloss_type: infonce\n'), true);
    assert.equal(isTrainingConfig('conf/run.yml', 'model_name: x\n'), false);
    assert.equal(isTrainingConfig('.github/workflows/ci.yaml', 'name: ci\non: push\n'), false);
    assert.equal(isTrainingConfig('dinov2_i2i.json', ''), false);
    assert.equal(isTrainingConfig('cfg/a.yaml', '', ['cfg/*.yaml']), true);
  });

  test('globs', () => {
    assert.ok(globToRegExp('**/*_i2i.yaml').test('a/b/x_i2i.yaml'));
    assert.ok(globToRegExp('**/*_i2i.yaml').test('x_i2i.yaml'));
    assert.ok(!globToRegExp('*.yaml').test('a/x.yaml'));
    assert.ok(globToRegExp('cfg/{a,b}.y?ml').test('cfg/b.yaml'));
  });
});
