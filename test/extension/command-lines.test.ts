// The command lines the extension's Prepare Data... and Export ONNX... run
// (src/extension/engineClient/commandLines.ts), through the real CLI: folders and CSV layouts are
// prepared, and the prepared data makes a config (the "Your prepared data" template) that
// `vembed validate` accepts with its paths checked; a real checkpoint exports at each precision.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { exportOnnxArgs, prepareDataArgs } from '../../src/extension/engineClient/commandLines';
import { renderConfigTemplate } from '../../src/shared/config/templates';
import { SharedRunData } from '../engine/run/fixtures';
import { BIN, train } from '../shared/runs/realRuns';

let data: SharedRunData;
let images: string;
before(async () => {
  data = await SharedRunData.create('command-lines');
  // One folder per product, three views each: a colour per product, shifted per view.
  images = path.join(data.work, 'photos');
  for (let p = 0; p < 8; p++) {
    fs.mkdirSync(path.join(images, `sku-${p}`), { recursive: true });
    for (let v = 0; v < 3; v++) {
      const pixels = Buffer.alloc(32 * 32 * 3, (p * 31 + v * 7) % 256);
      await sharp(pixels, { raw: { width: 32, height: 32, channels: 3 } })
        .png()
        .toFile(path.join(images, `sku-${p}`, `view-${v}.png`));
    }
  }
});
after(() => data?.remove());

function vembed(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('Prepare Data... (folders, then CSV) writes the lists, and the prepared-data config validates', () => {
  const out = path.join(data.work, 'prepared');
  const folders = vembed(prepareDataArgs('folders', images, out), data.work);
  assert.equal(folders.code, 0, folders.out);
  for (const f of ['train.jsonl', 'val.jsonl']) assert.ok(fs.existsSync(path.join(out, f)), f);
  const config = path.join(data.work, 'mine_i2i.yaml');
  fs.writeFileSync(config, renderConfigTemplate('prepared', { dataDir: 'prepared', imageRoot: 'photos' }));
  const valid = vembed(['validate', config], data.work);
  assert.equal(valid.code, 0, valid.out);
  assert.match(valid.out, /0 error\(s\), 0 warning\(s\)/);

  const csv = path.join(images, 'list.csv');
  const rows = fs
    .readdirSync(images)
    .filter((d) => d.startsWith('sku-'))
    .flatMap((d) => fs.readdirSync(path.join(images, d)).map((f) => `${d}/${f},${d}`));
  fs.writeFileSync(csv, ['path,product', ...rows].join('\n') + '\n');
  const outCsv = path.join(data.work, 'prepared-csv');
  const fromCsv = vembed(prepareDataArgs('csv', csv, outCsv), data.work);
  assert.equal(fromCsv.code, 0, fromCsv.out);
  assert.ok(fs.existsSync(path.join(outCsv, 'train.jsonl')));
});

test('Export ONNX... writes a checkpoint of a real run at fp32, fp16 and int8', () => {
  const run = data.runDir('export');
  train(run.dir, run.config);
  const checkpoint = path.join(run.dir, 'out', 'checkpoint-epoch-2');
  const sizes: Record<string, number> = {};
  for (const precision of ['fp32', 'fp16', 'int8'] as const) {
    const file = path.join(data.work, `model-${precision}.onnx`);
    const r = vembed(exportOnnxArgs(checkpoint, file, precision), data.work);
    assert.equal(r.code, 0, r.out);
    sizes[precision] = fs.statSync(file).size;
  }
  assert.ok(sizes.fp16! < sizes.fp32!, `fp16 smaller than fp32: ${JSON.stringify(sizes)}`);
});
