import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { HubError, resolveModel, type HubErrorCode, type ResolveModelOptions } from '../../../src/engine/hub';
import { FakeHub, makeTempHome, tinyDinoRepo } from './fakeHub';

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
  let hub: FakeHub;
  let tmp: ReturnType<typeof makeTempHome>;
  const opts = (extra: ResolveModelOptions = {}): ResolveModelOptions => ({
    endpoint: hub.url,
    cacheDir: tmp.cacheDir,
    env: {},
    homeDir: tmp.home,
    baseDir: tmp.root,
    ...extra,
  });

  // A hub that has the same id, to show a folder wins and the hub is never asked.
  before(async () => (hub = await new FakeHub([tinyDinoRepo('facebook/dinov2-tiny')]).start()));
  after(async () => hub.close());
  beforeEach(() => {
    tmp = makeTempHome();
    hub.requests.length = 0;
  });
  afterEach(() => tmp.cleanup());

  test('a relative path is resolved against baseDir and used as is', async () => {
    writeModel(path.join(tmp.root, 'models', 'mine'), ['config.json', 'model.safetensors']);
    const result = await resolveModel('models/mine', opts());
    assert.deepEqual(result, { folder: path.join(tmp.root, 'models', 'mine'), source: 'local', files: ['config.json', 'model.safetensors'], downloaded: [] });
  });

  test('./ paths, absolute paths and ~ paths', async () => {
    writeModel(path.join(tmp.root, 'm'), ['config.json', 'model.safetensors', 'preprocessor_config.json']);
    writeModel(path.join(tmp.home, 'hm'), ['config.json', 'model.safetensors']);
    assert.equal((await resolveModel('./m', opts())).folder, path.join(tmp.root, 'm'));
    assert.deepEqual((await resolveModel(path.join(tmp.root, 'm'), opts({ baseDir: '/' }))).files, ['config.json', 'model.safetensors', 'preprocessor_config.json']);
    assert.equal((await resolveModel('~/hm', opts())).folder, path.join(tmp.home, 'hm'));
  });

  test('a folder named like a hub id wins over the hub, without a request', async () => {
    writeModel(path.join(tmp.root, 'facebook', 'dinov2-tiny'), ['config.json', 'model.safetensors']);
    const result = await resolveModel('facebook/dinov2-tiny', opts());
    assert.equal(result.source, 'local');
    assert.equal(hub.requests.length, 0);
  });

  test('a folder without config.json says what is missing', async () => {
    writeModel(path.join(tmp.root, 'half'), ['model.safetensors']);
    await rejectsWith(resolveModel('half', opts()), 'model-files-missing', /The model folder .*half lacks config\.json\./, /config\.json and model\.safetensors/);
  });

  test('a folder with only pytorch_model.bin asks for safetensors and says how to convert', async () => {
    const folder = path.join(tmp.root, 'pt');
    writeModel(folder, ['config.json', 'pytorch_model.bin']);
    await rejectsWith(resolveModel('pt', opts()), 'model-weights-format', /weights only as pytorch_model\.bin; vembed reads only model\.safetensors/, /safe_serialization=True/);
  });

  test('sharded safetensors are named as such', async () => {
    writeModel(path.join(tmp.root, 'sharded'), ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors']);
    await rejectsWith(resolveModel('sharded', opts()), 'model-weights-format', /split into shards/, /max_shard_size/);
  });

  test('a path to a file, a missing path and a non-id get plain messages', async () => {
    writeModel(path.join(tmp.root, 'm'), ['config.json', 'model.safetensors']);
    await rejectsWith(resolveModel('m/config.json', opts()), 'model-not-found', /is the file .*config\.json, not a model folder/, new RegExp(`here ${path.join(tmp.root, 'm').replace(/[/\\]/g, '.')}`));
    await rejectsWith(resolveModel('./nowhere', opts()), 'model-not-found', /"\.\/nowhere" is not a folder \(.*nowhere does not exist\)\.$/);
    await rejectsWith(resolveModel('not an id', opts()), 'model-not-found', /nor a Hugging Face model id/);
    await rejectsWith(resolveModel('  ', opts()), 'model-not-found', /model_name is empty/);
    assert.equal(hub.requests.length, 0);
  });

  test('the files option changes what a folder must hold', async () => {
    writeModel(path.join(tmp.root, 'cfg-only'), ['config.json']);
    const result = await resolveModel('cfg-only', opts({ files: ['config.json'], optionalFiles: [] }));
    assert.deepEqual(result.files, ['config.json']);
  });
});
