// The templates of "vembed: New Training Config" (src/shared/config/templates.ts) are valid configs:
// no error and no warning from the validator, and `vembed validate` accepts the sample template in a
// folder where `vembed sample-data` has put the data (so its paths are checked against real files too).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CONFIG_TEMPLATES, renderConfigTemplate } from '../../src/shared/config/templates';
import { loadConfigText, validateConfigText } from '../../src/shared/config/validate';

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin', 'vembed.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-templates-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

test('every template validates without an error or a warning, with and without its inputs', () => {
  for (const t of CONFIG_TEMPLATES) {
    for (const inputs of [
      {},
      { dataDir: 'data\\mine', imageRoot: 'photos', sampleModel: '/opt/m', outputDir: 'runs/x' },
    ]) {
      const text = renderConfigTemplate(t.id, inputs);
      assert.deepEqual(
        validateConfigText(text).diagnostics.map((d) => d.message),
        [],
        `${t.id} ${JSON.stringify(inputs)}`,
      );
      assert.match(text, /^# /, 'starts with a comment saying what it is');
    }
  }
  const prepared = loadConfigText(
    renderConfigTemplate('prepared', { dataDir: 'data\\mine', imageRoot: 'photos' }),
  ).config!;
  assert.equal(prepared.data_path, 'data/mine/train.jsonl', 'forward slashes on every OS');
  assert.equal(prepared.val_data_path, 'data/mine/val.jsonl');
  assert.equal(prepared.image_root, 'photos');
  const small = loadConfigText(renderConfigTemplate('dinov2-small-sop')).config!;
  assert.equal(small.model_name, 'facebook/dinov2-small');
  assert.equal(loadConfigText(renderConfigTemplate('dinov2-base-sop')).config!.model_name, 'facebook/dinov2-base');
});

test('vembed validate accepts the sample template once the sample data is there', () => {
  const sample = spawnSync(process.execPath, [bin, 'sample-data', '--out', 'data/sample-sop'], {
    cwd: work,
    encoding: 'utf8',
  });
  assert.equal(sample.status, 0, sample.stderr);
  const file = path.join(work, 'sample_i2i.yaml');
  fs.writeFileSync(file, renderConfigTemplate('sample', { sampleModel: path.join(root, 'models', 'vembed-tiny') }));
  const r = spawnSync(process.execPath, [bin, 'validate', file], { cwd: work, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /0 error\(s\), 0 warning\(s\)/);
});
