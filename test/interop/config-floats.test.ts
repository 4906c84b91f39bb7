// A model folder vembed writes keeps transformers' float fields floats:
// DINOv2's own configs hold layerscale_value 1.0 and dropout rates 0.0, which
// JSON in JavaScript would write back as integers, and transformers 5 refuses
// an int in a float field.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadImageEncoder, saveFullModel } from '../../src/engine/model';
import { tempDir, useWasm } from '../engine/model/helpers';
import { runPython } from '../helpers/python';

let work = '';
before(async () => {
  await useWasm();
  work = tempDir('config-floats');
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

test('a full model saved by vembed from a config with layerscale_value 1.0 loads in transformers', async () => {
  const base = path.join(work, 'base');
  runPython([
    '-c',
    `from transformers import Dinov2Config, Dinov2Model
Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=28, patch_size=14, layerscale_value=1.0, drop_path_rate=0.0)).save_pretrained(${JSON.stringify(base)})`,
  ]);
  const encoder = await loadImageEncoder(base);
  const saved = path.join(work, 'saved');
  try {
    saveFullModel(encoder, saved);
  } finally {
    encoder.dispose();
  }
  const text = fs.readFileSync(path.join(saved, 'config.json'), 'utf8');
  assert.match(text, /"layerscale_value": 1\.0\b/);
  assert.match(text, /"drop_path_rate": 0\.0\b/);
  const out = runPython([
    '-c',
    `from transformers import Dinov2Model
m = Dinov2Model.from_pretrained(${JSON.stringify(saved)})
print(type(m.config.layerscale_value).__name__, m.config.layerscale_value)`,
  ]);
  assert.equal(out.trim().split('\n').pop(), 'float 1.0');
});
