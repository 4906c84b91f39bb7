import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { HubError, type HubErrorCode, resolveModel } from '../../../src/engine/hub';
import { tinyDinoRepo, useFakeHub } from './fakeHub';

function writeModel(folder: string, files: string[]): void {
  fs.mkdirSync(folder, { recursive: true });
  for (const f of files) fs.writeFileSync(path.join(folder, f), f === 'config.json' ? '{"model_type":"dinov2"}' : 'x');
}

async function rejectsWith(p: Promise<unknown>, code: HubErrorCode, message: RegExp, hint?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof HubError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    if (hint) assert.match(e.hint ?? '', hint);
    return true;
  });
}

describe('a local model folder', () => {
  // A hub that has the same id, to show a folder wins and the hub is never asked.
  const fx = useFakeHub(() => [tinyDinoRepo('facebook/dinov2-tiny')]);

  test('a relative path is resolved against baseDir and used as is', async () => {
    writeModel(path.join(fx.tmp.root, 'models', 'mine'), ['config.json', 'model.safetensors']);
    const result = await resolveModel('models/mine', fx.opts());
    assert.deepEqual(result, {
      folder: path.join(fx.tmp.root, 'models', 'mine'),
      source: 'local',
      files: ['config.json', 'model.safetensors'],
      downloaded: [],
    });
  });

  test('./ paths, absolute paths and ~ paths', async () => {
    writeModel(path.join(fx.tmp.root, 'm'), ['config.json', 'model.safetensors', 'preprocessor_config.json']);
    writeModel(path.join(fx.tmp.home, 'hm'), ['config.json', 'model.safetensors']);
    assert.equal((await resolveModel('./m', fx.opts())).folder, path.join(fx.tmp.root, 'm'));
    assert.deepEqual((await resolveModel(path.join(fx.tmp.root, 'm'), fx.opts({ baseDir: '/' }))).files, [
      'config.json',
      'model.safetensors',
      'preprocessor_config.json',
    ]);
    assert.equal((await resolveModel('~/hm', fx.opts())).folder, path.join(fx.tmp.home, 'hm'));
  });

  test('a folder named like a hub id wins over the hub, without a request', async () => {
    writeModel(path.join(fx.tmp.root, 'facebook', 'dinov2-tiny'), ['config.json', 'model.safetensors']);
    const result = await resolveModel('facebook/dinov2-tiny', fx.opts());
    assert.equal(result.source, 'local');
    assert.equal(fx.hub.requests.length, 0);
  });

  test('a folder without config.json says what is missing', async () => {
    writeModel(path.join(fx.tmp.root, 'half'), ['model.safetensors']);
    await rejectsWith(
      resolveModel('half', fx.opts()),
      'model-files-missing',
      /The model folder .*half lacks config\.json\./,
      /config\.json and model\.safetensors/,
    );
  });

  test('a folder with only pytorch_model.bin asks for safetensors and says how to convert', async () => {
    const folder = path.join(fx.tmp.root, 'pt');
    writeModel(folder, ['config.json', 'pytorch_model.bin']);
    await rejectsWith(
      resolveModel('pt', fx.opts()),
      'model-weights-format',
      /weights only as pytorch_model\.bin; vembed reads only model\.safetensors/,
      /safe_serialization=True/,
    );
  });

  test('sharded safetensors are named as such', async () => {
    writeModel(path.join(fx.tmp.root, 'sharded'), [
      'config.json',
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors',
    ]);
    await rejectsWith(
      resolveModel('sharded', fx.opts()),
      'model-weights-format',
      /split into shards/,
      /max_shard_size/,
    );
  });

  test('a path to a file, a missing path and a non-id get plain messages', async () => {
    writeModel(path.join(fx.tmp.root, 'm'), ['config.json', 'model.safetensors']);
    await rejectsWith(
      resolveModel('m/config.json', fx.opts()),
      'model-not-found',
      /is the file .*config\.json, not a model folder/,
      new RegExp(`here ${path.join(fx.tmp.root, 'm').replace(/[/\\]/g, '.')}`),
    );
    await rejectsWith(
      resolveModel('./nowhere', fx.opts()),
      'model-not-found',
      /"\.\/nowhere" is not a folder \(.*nowhere does not exist\)\.$/,
    );
    await rejectsWith(resolveModel('not an id', fx.opts()), 'model-not-found', /nor a Hugging Face model id/);
    await rejectsWith(resolveModel('  ', fx.opts()), 'model-not-found', /model_name is empty/);
    assert.equal(fx.hub.requests.length, 0);
  });

  test('the files option changes what a folder must hold', async () => {
    writeModel(path.join(fx.tmp.root, 'cfg-only'), ['config.json']);
    const result = await resolveModel('cfg-only', fx.opts({ files: ['config.json'], optionalFiles: [] }));
    assert.deepEqual(result.files, ['config.json']);
  });
});
