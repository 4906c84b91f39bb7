import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  downloadProgressEvent,
  hfHomeDir,
  hubCacheDir,
  hubEndpoint,
  isCommitHash,
  isRepoId,
  offlineFromEnv,
  readHubToken,
  repoFolderName,
  snapshotDir,
  tokenFilePath,
} from '../../../src/engine/hub';
import { checkRevision, expandPath } from '../../../src/engine/hub/paths';
import { normalizeEtag, resolveUrl } from '../../../src/engine/hub/metadata';
import { makeTempHome } from './fakeHub';

const HOME = path.resolve('/home/ada');

describe('cache location, as huggingface_hub reads the environment', () => {
  test('HF_HUB_CACHE wins, then the legacy HUGGINGFACE_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache', () => {
    const all = { HF_HUB_CACHE: '/a/hub', HUGGINGFACE_HUB_CACHE: '/b/hub', HF_HOME: '/c', XDG_CACHE_HOME: '/d' };
    assert.equal(hubCacheDir(all, HOME), path.resolve('/a/hub'));
    assert.equal(hubCacheDir({ ...all, HF_HUB_CACHE: undefined }, HOME), path.resolve('/b/hub'));
    assert.equal(hubCacheDir({ HF_HOME: '/c', XDG_CACHE_HOME: '/d' }, HOME), path.resolve('/c/hub'));
    assert.equal(hubCacheDir({ XDG_CACHE_HOME: '/d' }, HOME), path.resolve('/d/huggingface/hub'));
    assert.equal(hubCacheDir({}, HOME), path.join(HOME, '.cache', 'huggingface', 'hub'));
  });

  test('empty values count as unset; ~ and $VARS are expanded', () => {
    assert.equal(
      hubCacheDir({ HF_HUB_CACHE: '', HF_HOME: '  ' }, HOME),
      path.join(HOME, '.cache', 'huggingface', 'hub'),
    );
    assert.equal(hubCacheDir({ HF_HUB_CACHE: '~/models' }, HOME), path.join(HOME, 'models'));
    assert.equal(hfHomeDir({ HF_HOME: '$DATA/hf', DATA: '/srv' }, HOME), path.resolve('/srv/hf'));
    assert.equal(expandPath('${NOPE}/x', {}, HOME), '${NOPE}/x');
  });

  test('the token file is HF_TOKEN_PATH, else $HF_HOME/token', () => {
    assert.equal(tokenFilePath({ HF_TOKEN_PATH: '/t/tok', HF_HOME: '/c' }, HOME), path.resolve('/t/tok'));
    assert.equal(tokenFilePath({ HF_HOME: '/c' }, HOME), path.resolve('/c/token'));
    assert.equal(tokenFilePath({}, HOME), path.join(HOME, '.cache', 'huggingface', 'token'));
  });

  test('endpoint and offline flags', () => {
    assert.equal(hubEndpoint({}), 'https://huggingface.co');
    assert.equal(hubEndpoint({ HF_ENDPOINT: 'https://hf-mirror.com/' }), 'https://hf-mirror.com');
    for (const v of ['1', 'ON', 'yes', 'True']) assert.equal(offlineFromEnv({ HF_HUB_OFFLINE: v }), true, v);
    for (const v of ['0', 'false', '', 'off']) assert.equal(offlineFromEnv({ HF_HUB_OFFLINE: v }), false, v);
    assert.equal(offlineFromEnv({ TRANSFORMERS_OFFLINE: '1' }), true);
  });
});

describe('tokens', () => {
  let tmp: ReturnType<typeof makeTempHome>;
  beforeEach(() => (tmp = makeTempHome()));
  afterEach(() => tmp.cleanup());

  test('HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the saved file (trimmed), else none', () => {
    const file = path.join(tmp.root, 'token');
    fs.writeFileSync(file, '  hf_file \n');
    assert.equal(
      readHubToken({ HF_TOKEN: 'hf_env', HUGGING_FACE_HUB_TOKEN: 'hf_old', HF_TOKEN_PATH: file }, tmp.home),
      'hf_env',
    );
    assert.equal(readHubToken({ HUGGING_FACE_HUB_TOKEN: 'hf_old', HF_TOKEN_PATH: file }, tmp.home), 'hf_old');
    assert.equal(readHubToken({ HF_TOKEN_PATH: file }, tmp.home), 'hf_file');
    assert.equal(readHubToken({}, tmp.home), undefined);
  });
});

describe('names', () => {
  test('repo ids', () => {
    for (const ok of [
      'facebook/dinov2-small',
      'facebook/dinov2-with-registers-giant',
      'bert-base-uncased',
      'a/b',
      'Org_1/model.v2',
    ])
      assert.equal(isRepoId(ok), true, ok);
    for (const bad of [
      '',
      'a/b/c',
      'a--b/c',
      'a/b..c',
      '/abs',
      'x/',
      'org/name.git',
      'has space/x',
      '-lead/x',
      'x/trail-',
      'a'.repeat(97),
    ]) {
      assert.equal(isRepoId(bad), false, bad);
    }
  });

  test('cache folder names and snapshot paths', () => {
    assert.equal(repoFolderName('facebook/dinov2-small'), 'models--facebook--dinov2-small');
    assert.equal(repoFolderName('gpt2'), 'models--gpt2');
    assert.equal(
      snapshotDir('/c', 'facebook/dinov2-small', 'f'.repeat(40)),
      path.join('/c', 'models--facebook--dinov2-small', 'snapshots', 'f'.repeat(40)),
    );
  });

  test('commit ids and revisions', () => {
    assert.equal(isCommitHash('0123456789abcdef0123456789abcdef01234567'), true);
    assert.equal(isCommitHash('0123456789ABCDEF0123456789abcdef01234567'), false);
    assert.equal(isCommitHash('main'), false);
    assert.equal(checkRevision('main'), undefined);
    assert.equal(checkRevision('refs/pr/1'), undefined);
    for (const bad of ['../x', 'a/../../b', '/main', 'a\\b', ' ', 'a//b'])
      assert.notEqual(checkRevision(bad), undefined, bad);
  });

  test('resolve URLs encode the revision whole and each file path segment', () => {
    const u = resolveUrl('https://huggingface.co', {
      repoId: 'org/m',
      revision: 'refs/pr/1',
      file: 'sub dir/config.json',
    });
    assert.equal(u.href, 'https://huggingface.co/org/m/resolve/refs%2Fpr%2F1/sub%20dir/config.json');
  });

  test('ETags lose their quotes and weak marker', () => {
    assert.equal(normalizeEtag('"abc"'), 'abc');
    assert.equal(normalizeEtag('W/"abc"'), 'abc');
    assert.equal(normalizeEtag('abc'), 'abc');
  });
});

describe('progress events', () => {
  test('a download update becomes a protocol progress event in bytes', () => {
    assert.deepEqual(
      downloadProgressEvent({ file: 'model.safetensors', done: 10, total: 100 }, 'facebook/dinov2-small'),
      {
        type: 'progress',
        task: 'download facebook/dinov2-small/model.safetensors',
        done: 10,
        total: 100,
        unit: 'bytes',
      },
    );
    assert.deepEqual(downloadProgressEvent({ file: 'config.json', done: 5 }), {
      type: 'progress',
      task: 'download config.json',
      done: 5,
      unit: 'bytes',
    });
  });
});
