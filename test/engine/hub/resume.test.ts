import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeEach, describe, test } from 'node:test';
import { HubError, resolveModel } from '../../../src/engine/hub';
import { COMMIT, type FakeRepo, listTree, sha256, tinyDinoRepo, useFakeHub } from './fakeHub';

const REPO = 'facebook/dinov2-tiny';

describe('interrupted, resumed and corrupt downloads', () => {
  let repo: FakeRepo;
  let weights: Buffer;
  let repoDir: string;
  let blob: string;
  const fx = useFakeHub(() => {
    repo = tinyDinoRepo(REPO);
    weights = repo.files['model.safetensors']!.content;
    return [repo];
  });
  const cdnGets = (): { range?: string }[] =>
    fx.hub.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
  beforeEach(() => {
    repoDir = path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-tiny');
    blob = path.join(repoDir, 'blobs', sha256(weights));
  });

  test('a connection cut half-way is resumed with Range in the same call', async () => {
    const half = weights.length >> 1;
    Object.assign(fx.hub.behaviour, { cutAfterBytes: half, cutsLeft: 1 });
    const result = await resolveModel(REPO, fx.opts());
    const gets = cdnGets();
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.range, undefined);
    // Everything that arrived before the cut was kept: the retry asks for exactly the rest.
    assert.equal(gets[1]!.range, `bytes=${half}-`);
    assert.ok(fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(weights));
    assert.equal(fs.existsSync(`${blob}.incomplete`), false);
  });

  test('a partial file left by a failed run is resumed by the next run', async () => {
    const cut = 100 * 1024;
    Object.assign(fx.hub.behaviour, { cutAfterBytes: cut, cutsLeft: 1 });
    await assert.rejects(resolveModel(REPO, fx.opts({ retries: 0 })), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(e.code, 'hub-unreachable');
      assert.match(e.message, /dinov2-tiny/);
      assert.match(e.hint ?? '', /partial downloads resume/);
      return true;
    });
    // Nothing half-written is visible as the model: no blob, no snapshot entry, no ref.
    assert.equal(fs.statSync(`${blob}.incomplete`).size, cut);
    assert.equal(fs.existsSync(blob), false);
    assert.equal(fs.existsSync(path.join(repoDir, 'snapshots', COMMIT, 'model.safetensors')), false);
    assert.equal(fs.existsSync(path.join(repoDir, 'refs', 'main')), false);

    fx.hub.requests.length = 0;
    const result = await resolveModel(REPO, fx.opts());
    assert.deepEqual(
      cdnGets().map((g) => g.range),
      [`bytes=${cut}-`],
    );
    assert.ok(fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(weights));
  });

  test('a server that ignores Range (200 with the whole file) restarts the file from zero', async () => {
    fs.mkdirSync(path.dirname(blob), { recursive: true });
    // A stale partial file whose bytes are wrong: if it were appended to, the sha256 check would fail.
    fs.writeFileSync(`${blob}.incomplete`, Buffer.alloc(1000, 0xab));
    fx.hub.behaviour.ignoreRange = true;
    const result = await resolveModel(REPO, fx.opts());
    assert.deepEqual(
      cdnGets().map((g) => g.range),
      ['bytes=1000-'],
    );
    assert.ok(fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(weights));
  });

  test('a partial file longer than the announced size is discarded', async () => {
    fs.mkdirSync(path.dirname(blob), { recursive: true });
    fs.writeFileSync(`${blob}.incomplete`, Buffer.alloc(weights.length + 10, 1));
    const result = await resolveModel(REPO, fx.opts());
    assert.deepEqual(
      cdnGets().map((g) => g.range),
      [undefined],
    );
    assert.ok(fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(weights));
  });

  test('a sha256 mismatch is rejected and leaves no corrupt blob in the cache', async () => {
    fx.hub.behaviour.corrupt = true;
    await assert.rejects(resolveModel(REPO, fx.opts()), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.equal(e.code, 'download-corrupt');
      assert.match(e.message, /model\.safetensors of facebook\/dinov2-tiny failed its integrity check/);
      assert.match(e.message, new RegExp(sha256(weights)));
      return true;
    });
    const tree = listTree(repoDir);
    assert.ok(
      !tree.some((p) => p.includes(sha256(weights))),
      `no blob, partial or link for the weights: ${tree.join(', ')}`,
    );
    assert.ok(!tree.includes('refs/main'));
    // The next run (the proxy fixed) downloads afresh and succeeds.
    fx.hub.behaviour.corrupt = false;
    fx.hub.requests.length = 0;
    const result = await resolveModel(REPO, fx.opts());
    assert.deepEqual(
      cdnGets().map((g) => g.range),
      [undefined],
    );
    assert.ok(fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(weights));
  });

  test('an already complete partial file is checked and moved without a request for its bytes', async () => {
    fs.mkdirSync(path.dirname(blob), { recursive: true });
    fs.writeFileSync(`${blob}.incomplete`, weights);
    const result = await resolveModel(REPO, fx.opts());
    assert.equal(cdnGets().length, 0);
    assert.ok(result.downloaded.includes('model.safetensors'));
    assert.ok(fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(weights));
  });
});
