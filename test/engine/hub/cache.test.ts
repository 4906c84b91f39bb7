import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { HubError, resolveModel } from '../../../src/engine/hub';
import { COMMIT, type FakeRepo, gitBlobSha1, sha256, tinyDinoRepo, useFakeHub } from './fakeHub';

const REPO = 'facebook/dinov2-tiny';

/** Lay a repo out the way huggingface_hub does (symlinks into blobs), or as plain files (Windows, copied caches). */
function populate(
  cacheDir: string,
  repo: FakeRepo,
  style: 'symlink' | 'plain',
  ref: string | undefined = 'main',
): string {
  const repoDir = path.join(cacheDir, 'models--' + repo.id.replace('/', '--'));
  const snap = path.join(repoDir, 'snapshots', repo.commit);
  fs.mkdirSync(snap, { recursive: true });
  for (const [name, f] of Object.entries(repo.files)) {
    if (style === 'plain') {
      fs.writeFileSync(path.join(snap, name), f.content);
      continue;
    }
    const etag = f.lfs ? sha256(f.content) : gitBlobSha1(f.content);
    fs.mkdirSync(path.join(repoDir, 'blobs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'blobs', etag), f.content);
    fs.symlinkSync(`../../blobs/${etag}`, path.join(snap, name));
  }
  if (ref) {
    fs.mkdirSync(path.join(repoDir, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repoDir, 'refs', ref), repo.commit);
  }
  return snap;
}

describe('finding a model in the Hugging Face cache', () => {
  let repo: FakeRepo;
  const fx = useFakeHub(() => [(repo = tinyDinoRepo(REPO))]);

  test('a cache made by huggingface_hub (symlinks into blobs) is used without any request', async () => {
    const snap = populate(fx.tmp.cacheDir, repo, 'symlink');
    const result = await resolveModel(REPO, fx.opts());
    assert.deepEqual(result, {
      folder: snap,
      source: 'cache',
      repoId: REPO,
      revision: 'main',
      commit: COMMIT,
      files: ['config.json', 'model.safetensors', 'preprocessor_config.json'],
      downloaded: [],
    });
    assert.equal(fx.hub.requests.length, 0);
  });

  test('plain files in the snapshot (no symlinks) are accepted', async () => {
    const snap = populate(fx.tmp.cacheDir, repo, 'plain');
    const result = await resolveModel(REPO, fx.opts());
    assert.equal(result.folder, snap);
    assert.equal(fx.hub.requests.length, 0);
  });

  test('a ref file with a trailing newline (edited by hand) still resolves', async () => {
    populate(fx.tmp.cacheDir, repo, 'plain');
    fs.writeFileSync(path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-tiny', 'refs', 'main'), COMMIT + '\n');
    assert.equal((await resolveModel(REPO, fx.opts())).source, 'cache');
    assert.equal(fx.hub.requests.length, 0);
  });

  test('a commit id as revision maps straight to snapshots/{commit}, no ref needed', async () => {
    const snap = populate(fx.tmp.cacheDir, repo, 'symlink', undefined);
    const result = await resolveModel(REPO, fx.opts({ revision: COMMIT, offline: true }));
    assert.equal(result.folder, snap);
    assert.equal(result.commit, COMMIT);
  });

  test('a branch other than main is looked up through its own ref', async () => {
    const snap = populate(fx.tmp.cacheDir, repo, 'symlink', 'v1.0');
    assert.equal((await resolveModel(REPO, fx.opts({ revision: 'v1.0', offline: true }))).folder, snap);
    await assert.rejects(resolveModel(REPO, fx.opts({ offline: true })), /has no refs\/main/);
  });

  test('the cache folder comes from HF_HUB_CACHE, HF_HOME or XDG_CACHE_HOME when not given', async () => {
    const hubCache = path.join(fx.tmp.root, 'custom-hub');
    populate(hubCache, repo, 'plain');
    const base = { endpoint: fx.hub.url, homeDir: fx.tmp.home, baseDir: fx.tmp.root, offline: true };
    assert.equal((await resolveModel(REPO, { ...base, env: { HF_HUB_CACHE: hubCache } })).source, 'cache');

    const hfHome = path.join(fx.tmp.root, 'hf-home');
    populate(path.join(hfHome, 'hub'), repo, 'plain');
    assert.equal((await resolveModel(REPO, { ...base, env: { HF_HOME: hfHome } })).folder.startsWith(hfHome), true);

    const xdg = path.join(fx.tmp.root, 'xdg');
    populate(path.join(xdg, 'huggingface', 'hub'), repo, 'plain');
    assert.equal((await resolveModel(REPO, { ...base, env: { XDG_CACHE_HOME: xdg } })).folder.startsWith(xdg), true);

    // Nothing set: ~/.cache/huggingface/hub under the (temporary) home.
    populate(path.join(fx.tmp.home, '.cache', 'huggingface', 'hub'), repo, 'plain');
    assert.equal((await resolveModel(REPO, { ...base, env: {} })).folder.startsWith(fx.tmp.home), true);
    assert.equal(fx.hub.requests.length, 0);
  });

  test('a dangling snapshot symlink (blob deleted) counts as missing and is repaired from the hub', async () => {
    const snap = populate(fx.tmp.cacheDir, repo, 'symlink');
    const weights = repo.files['model.safetensors']!.content;
    fs.rmSync(path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-tiny', 'blobs', sha256(weights)));
    const result = await resolveModel(REPO, fx.opts());
    assert.deepEqual(result.downloaded, ['model.safetensors']);
    assert.ok(fs.readFileSync(path.join(snap, 'model.safetensors')).equals(weights));
  });

  test('a cached snapshot holding only pytorch_model.bin is reported offline with that detail', async () => {
    const pt = tinyDinoRepo('org/pt-only');
    pt.files['pytorch_model.bin'] = pt.files['model.safetensors']!;
    delete pt.files['model.safetensors'];
    populate(fx.tmp.cacheDir, pt, 'symlink');
    await assert.rejects(resolveModel('org/pt-only', fx.opts({ offline: true })), (e: unknown) => {
      assert.ok(e instanceof HubError);
      assert.match(
        e.message,
        /lacks model\.safetensors \(the cache holds pytorch_model\.bin, which vembed does not read\)/,
      );
      return true;
    });
  });

  test('a stale lock left by a dead process does not block the download', async () => {
    const { spawnSync } = await import('node:child_process');
    const deadPid = spawnSync(process.execPath, ['-e', '']).pid;
    const etag = sha256(repo.files['model.safetensors']!.content);
    const lock = path.join(fx.tmp.cacheDir, '.locks', 'models--facebook--dinov2-tiny', `${etag}.vembed.lock`);
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    fs.writeFileSync(lock, JSON.stringify({ pid: deadPid, host: (await import('node:os')).hostname(), token: 'old' }));
    const result = await resolveModel(REPO, fx.opts());
    assert.ok(result.downloaded.includes('model.safetensors'));
    assert.equal(fs.existsSync(lock), false);
  });
});
