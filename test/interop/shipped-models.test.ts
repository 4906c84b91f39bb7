/**
 * Every model folder this repository ships (models/, the test fixtures) loads
 * in transformers as it is: transformers 5 validates config.json strictly, so
 * `"layerscale_value": 1` (an int in a float field) is refused where `1.0`
 * loads. The folders vembed writes are covered by config-floats.test.ts and
 * transformers.test.ts (a full checkpoint through AutoModel).
 *
 * The demo's starting model, models/vembed-tiny, must also embed as
 * `vembed embed` does: same tolerance as transformers.test.ts (every row's
 * cosine >= 0.99999, every value within 1e-4; float32 on both sides, sharp vs
 * Pillow resampling).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPython } from '../helpers/python';
import { tempDir } from '../engine/run/fixtures';
import { assertBuilt, compareEmbeddings, PY, ROOT, vembed } from './helpers';

const MIN_COSINE = 0.99999;
const MAX_ABS = 1e-4;

/** Folders under `dirs` (relative to the repository) holding a DINOv2 config.json, found rather than listed. */
function modelFolders(dirs: string[]): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const sub = path.join(dir, entry.name);
      const config = path.join(sub, 'config.json');
      if (fs.existsSync(config) && /"model_type":\s*"dinov2/.test(fs.readFileSync(config, 'utf8'))) found.push(sub);
      else walk(sub);
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d));
  return found.sort();
}

let work = '';
before(() => {
  assertBuilt();
  work = tempDir('interop-shipped');
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

describe('the model folders the project ships load in transformers', () => {
  const folders = modelFolders(['models', 'test/fixtures']);
  // One Python process for all of them (importing transformers takes most of the time); each folder's outcome,
  // the error's text when loading fails.
  let loaded: Record<string, { class?: string; error?: string }> = {};
  before(() => {
    loaded = JSON.parse(
      runPython([
        '-c',
        `import sys, json
from transformers import AutoModel
out = {}
for folder in sys.argv[1:]:
    try:
        out[folder] = {"class": type(AutoModel.from_pretrained(folder)).__name__}
    except Exception as e:
        out[folder] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(out))`,
        ...folders,
      ])
        .trim()
        .split('\n')
        .pop()!,
    ) as typeof loaded;
  });
  test('the search finds models/vembed-tiny and the DINOv2 fixtures', () => {
    const rel = folders.map((f) => path.relative(ROOT, f));
    assert.ok(rel.includes(path.join('models', 'vembed-tiny')), rel.join(', '));
    assert.ok(rel.length >= 4, rel.join(', '));
  });
  for (const folder of folders) {
    test(path.relative(ROOT, folder), () => {
      const r = loaded[folder]!;
      assert.equal(r.error, undefined, r.error);
      assert.match(r.class!, /^Dinov2(WithRegisters)?Model$/);
    });
  }
});

test('models/vembed-tiny: transformers (its model class and image processor) equals `vembed embed`', () => {
  const model = path.join(ROOT, 'models', 'vembed-tiny');
  const sample = path.join(ROOT, 'data', 'sample-sop');
  const lines = fs.readFileSync(path.join(sample, 'Ebay_test.txt'), 'utf8').trim().split('\n').slice(1, 9);
  const images = lines.map((l) => path.join(sample, l.split(' ')[3]!));
  const hfFile = path.join(work, 'tiny.hf.npy');
  const report = JSON.parse(
    runPython([path.join(PY, 'embed_hf.py'), model, hfFile, ...images])
      .trim()
      .split('\n')
      .pop()!,
  ) as { model: string; pixel_shape: number[] };
  assert.equal(report.model, 'Dinov2Model');
  assert.deepEqual(report.pixel_shape, [images.length, 3, 84, 84]);
  const ours = path.join(work, 'tiny.vembed.npy');
  vembed(['embed', '--model', model, '--out', ours, ...images], work);
  const { minCosine, maxAbs } = compareEmbeddings(ours, hfFile);
  assert.ok(minCosine >= MIN_COSINE && maxAbs <= MAX_ABS, `min cosine ${minCosine}, max |diff| ${maxAbs}`);
});
