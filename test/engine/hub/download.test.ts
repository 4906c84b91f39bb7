import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { type ModelProgress, resolveModel } from '../../../src/engine/hub';
import { COMMIT, FakeHub, type FakeRepo, gitBlobSha1, listTree, sha256, tinyDinoRepo, useFakeHub } from './fakeHub';

const REPO = 'facebook/dinov2-tiny';

describe('download from the hub into the cache', () => {
  let repo: FakeRepo;
  const fx = useFakeHub(() => [(repo = tinyDinoRepo(REPO))]);

  test('writes huggingface_hub layout: refs/main, snapshot symlinks into blobs named by etag', async () => {
    const result = await resolveModel(REPO, fx.opts());
    const repoDir = path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-tiny');
    assert.equal(result.source, 'download');
    assert.equal(result.commit, COMMIT);
    assert.equal(result.folder, path.join(repoDir, 'snapshots', COMMIT));
    assert.deepEqual(result.files, ['config.json', 'model.safetensors', 'preprocessor_config.json']);
    assert.deepEqual([...result.downloaded].sort(), ['config.json', 'model.safetensors', 'preprocessor_config.json']);

    const files = repo.files;
    const cfgEtag = gitBlobSha1(files['config.json']!.content);
    const preEtag = gitBlobSha1(files['preprocessor_config.json']!.content);
    const weightsEtag = sha256(files['model.safetensors']!.content);
    assert.deepEqual(
      listTree(repoDir),
      [
        `blobs/${cfgEtag}`,
        `blobs/${preEtag}`,
        `blobs/${weightsEtag}`,
        'refs/main',
        `snapshots/${COMMIT}/config.json -> ../../blobs/${cfgEtag}`,
        `snapshots/${COMMIT}/model.safetensors -> ../../blobs/${weightsEtag}`,
        `snapshots/${COMMIT}/preprocessor_config.json -> ../../blobs/${preEtag}`,
      ].sort(),
    );
    // huggingface_hub writes the commit id without a newline.
    assert.equal(fs.readFileSync(path.join(repoDir, 'refs', 'main'), 'utf8'), COMMIT);
    for (const [name, f] of Object.entries(files)) {
      assert.ok(fs.readFileSync(path.join(result.folder, name)).equals(f.content), `${name} content`);
    }
    // No lock or partial file left behind anywhere in the cache.
    const leftovers = listTree(fx.tmp.cacheDir).filter((p) => /\.lock$|\.incomplete$|\.tmp-/.test(p));
    assert.deepEqual(leftovers, []);
  });

  test('sends the HEADs the hub expects and follows the LFS redirect to the CDN path', async () => {
    await resolveModel(REPO, fx.opts());
    const seen = fx.hub.requests.map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(seen, [
      `HEAD /${REPO}/resolve/main/config.json`,
      `HEAD /${REPO}/resolve/${COMMIT}/model.safetensors`,
      `HEAD /${REPO}/resolve/${COMMIT}/preprocessor_config.json`,
      `GET /${REPO}/resolve/${COMMIT}/config.json`,
      `GET /cdn/${sha256(repo.files['model.safetensors']!.content)}`,
      `GET /${REPO}/resolve/${COMMIT}/preprocessor_config.json`,
    ]);
  });

  test('follows a relative Location as well', async () => {
    fx.hub.behaviour.redirect = 'relative';
    const result = await resolveModel(REPO, fx.opts());
    assert.ok(
      fs.readFileSync(path.join(result.folder, 'model.safetensors')).equals(repo.files['model.safetensors']!.content),
    );
    // Relative redirects are followed already during the HEAD (a renamed repo looks like that).
    assert.equal(
      fx.hub.count((r) => r.method === 'HEAD' && r.path.startsWith('/cdn/')),
      1,
    );
  });

  test('a second call finds the cache and makes no request', async () => {
    await resolveModel(REPO, fx.opts());
    const before = fx.hub.requests.length;
    const again = await resolveModel(REPO, fx.opts());
    assert.equal(again.source, 'cache');
    assert.equal(fx.hub.requests.length, before);
  });

  test('reports progress per file up to the total', async () => {
    const events: ModelProgress[] = [];
    await resolveModel(REPO, fx.opts({ onProgress: (p) => events.push(p), progressIntervalMs: 0 }));
    const weights = events.filter((e) => e.file === 'model.safetensors');
    const size = repo.files['model.safetensors']!.content.length;
    assert.ok(weights.length >= 2, `several updates, got ${weights.length}`);
    assert.equal(weights[0]!.done, 0);
    assert.deepEqual(weights[weights.length - 1], { file: 'model.safetensors', done: size, total: size });
    for (let i = 1; i < weights.length; i++) assert.ok(weights[i]!.done >= weights[i - 1]!.done, 'monotonic');
    assert.ok(events.some((e) => e.file === 'config.json' && e.done === e.total));
  });

  test('a revision given as a commit id is downloaded into snapshots/{commit} without a ref', async () => {
    const result = await resolveModel(REPO, fx.opts({ revision: COMMIT }));
    assert.equal(result.commit, COMMIT);
    const repoDir = path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-tiny');
    assert.equal(fs.existsSync(path.join(repoDir, 'refs')), false);
    assert.ok(fx.hub.requests.every((r) => !r.path.includes('/resolve/main/')));
  });

  test('a missing optional file is recorded in .no_exist and not asked for again', async () => {
    const bare = tinyDinoRepo('org/no-preprocessor');
    delete bare.files['preprocessor_config.json'];
    const hub2 = await new FakeHub([bare]).start();
    try {
      const o = { ...fx.opts(), endpoint: hub2.url };
      const result = await resolveModel('org/no-preprocessor', o);
      assert.deepEqual(result.files, ['config.json', 'model.safetensors']);
      const marker = path.join(
        fx.tmp.cacheDir,
        'models--org--no-preprocessor',
        '.no_exist',
        COMMIT,
        'preprocessor_config.json',
      );
      assert.ok(fs.existsSync(marker));
      // A cache with both required files is complete: no request at all.
      const n = hub2.requests.length;
      assert.equal((await resolveModel('org/no-preprocessor', o)).source, 'cache');
      assert.equal(hub2.requests.length, n);
    } finally {
      await hub2.close();
    }
  });

  test('only missing blobs are fetched when part of the snapshot is cached', async () => {
    await resolveModel(REPO, fx.opts());
    const folder = path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-tiny', 'snapshots', COMMIT);
    fs.rmSync(path.join(folder, 'model.safetensors'));
    fx.hub.requests.length = 0;
    const result = await resolveModel(REPO, fx.opts());
    // The blob is still in blobs/: relinked, not downloaded.
    assert.deepEqual(result.downloaded, []);
    assert.equal(result.source, 'cache');
    assert.equal(
      fx.hub.count((r) => r.method === 'GET'),
      0,
    );
    assert.ok(fs.lstatSync(path.join(folder, 'model.safetensors')).isSymbolicLink());
  });

  test('two concurrent resolutions of the same model download each blob once', async () => {
    const [a, b] = await Promise.all([resolveModel(REPO, fx.opts()), resolveModel(REPO, fx.opts())]);
    assert.equal(a.folder, b.folder);
    assert.equal(
      fx.hub.count((r) => r.method === 'GET' && r.path.startsWith('/cdn/')),
      1,
    );
    assert.ok(
      fs.readFileSync(path.join(a.folder, 'model.safetensors')).equals(repo.files['model.safetensors']!.content),
    );
  });

  test('the token goes to the hub as a Bearer header', async () => {
    const privateRepo = tinyDinoRepo('org/private', { token: 'hf_secret' });
    const hub2 = await new FakeHub([privateRepo]).start();
    try {
      const result = await resolveModel('org/private', {
        ...fx.opts(),
        endpoint: hub2.url,
        env: { HF_TOKEN: 'hf_secret' },
      });
      assert.equal(result.source, 'download');
      const toHub = hub2.requests.filter((r) => r.path.includes('/resolve/'));
      assert.ok(toHub.length > 0 && toHub.every((r) => r.authorization === 'Bearer hf_secret'));
    } finally {
      await hub2.close();
    }
  });

  test('the token is not sent to a CDN on another host', async () => {
    const privateRepo = tinyDinoRepo('org/private-cdn', { token: 'hf_secret' });
    const hub2 = await new FakeHub([privateRepo]).start();
    const cdn = await new FakeHub([privateRepo]).start();
    try {
      hub2.behaviour.cdnBase = cdn.url;
      await resolveModel('org/private-cdn', { ...fx.opts(), endpoint: hub2.url, token: 'hf_secret' });
      assert.deepEqual(
        cdn.requests.map((r) => [r.method, r.authorization]),
        [['GET', undefined]],
      );
    } finally {
      await hub2.close();
      await cdn.close();
    }
  });

  test('the token saved by huggingface-cli login is used when HF_TOKEN is unset', async () => {
    const privateRepo = tinyDinoRepo('org/private2', { token: 'hf_from_file' });
    const hub2 = await new FakeHub([privateRepo]).start();
    try {
      const hfHome = path.join(fx.tmp.root, 'hf-home');
      fs.mkdirSync(hfHome);
      fs.writeFileSync(path.join(hfHome, 'token'), 'hf_from_file\n');
      const result = await resolveModel('org/private2', { ...fx.opts(), endpoint: hub2.url, env: { HF_HOME: hfHome } });
      assert.equal(result.source, 'download');
    } finally {
      await hub2.close();
    }
  });
});
