import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { HubError, type HubErrorCode, resolveModel } from '../../../src/engine/hub';
import { FakeHub, listTree, tinyDinoRepo, useFakeHub } from './fakeHub';

/** Resolve, expect a HubError with `code`, and hand back message + hint for the checks. */
async function failure(p: Promise<unknown>, code: HubErrorCode): Promise<{ message: string; hint: string }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof HubError, `a HubError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return { message: e.message, hint: e.hint ?? '' };
  }
  assert.fail('resolveModel should have failed');
}

describe('hub failures become plain messages', () => {
  const fx = useFakeHub(() => {
    const ptOnly = tinyDinoRepo('org/pt-only');
    ptOnly.files['pytorch_model.bin'] = ptOnly.files['model.safetensors']!;
    delete ptOnly.files['model.safetensors'];
    const noConfig = tinyDinoRepo('org/no-config');
    delete noConfig.files['config.json'];
    return [
      tinyDinoRepo('facebook/dinov2-tiny'),
      tinyDinoRepo('org/private', { token: 'hf_right' }),
      tinyDinoRepo('org/gated', { token: 'hf_right', gated: true }),
      ptOnly,
      noConfig,
    ];
  });

  test('401 without a token says the repo may be private or gated and names HF_TOKEN', async () => {
    const { message, hint } = await failure(resolveModel('org/private', fx.opts()), 'hub-auth');
    assert.match(message, /refused access to org\/private \(401/);
    assert.match(message, /private or gated/);
    assert.match(hint, /HF_TOKEN/);
    assert.match(hint, /huggingface-cli login/);
  });

  test('401 with a wrong token says the token was refused', async () => {
    const { hint } = await failure(resolveModel('org/private', fx.opts({ env: { HF_TOKEN: 'hf_wrong' } })), 'hub-auth');
    assert.match(hint, /token that was sent .* was refused/);
    assert.ok(fx.hub.requests.every((r) => r.authorization === 'Bearer hf_wrong'));
  });

  test('a gated repo asks to accept its terms, then HF_TOKEN', async () => {
    const { message, hint } = await failure(resolveModel('org/gated', fx.opts()), 'hub-auth');
    assert.match(message, /org\/gated is a gated model/);
    assert.match(hint, new RegExp(`Accept its terms on ${fx.hub.url}/org/gated`));
    assert.match(hint, /HF_TOKEN/);
  });

  test('404 for an unknown repo names the id and suggests a real one', async () => {
    const { message, hint } = await failure(resolveModel('facebook/dinov2-smal', fx.opts()), 'hub-not-found');
    assert.match(message, /no model "facebook\/dinov2-smal"/);
    assert.match(hint, /facebook\/dinov2-small/);
  });

  test('404 for an unknown revision names the revision', async () => {
    const { message } = await failure(
      resolveModel('facebook/dinov2-tiny', fx.opts({ revision: 'v2.0' })),
      'hub-not-found',
    );
    assert.match(message, /no revision "v2\.0"/);
  });

  test('404 for a required file names the file', async () => {
    const { message } = await failure(resolveModel('org/no-config', fx.opts()), 'hub-not-found');
    assert.match(message, /org\/no-config has no file config\.json at revision main/);
  });

  test('a repo with only pytorch_model.bin says only safetensors is read and how to convert', async () => {
    const { message, hint } = await failure(resolveModel('org/pt-only', fx.opts()), 'model-weights-format');
    assert.match(message, /only as pytorch_model\.bin; vembed reads only model\.safetensors/);
    assert.match(hint, /safe_serialization=True/);
    assert.match(hint, /from_pretrained\('org\/pt-only'\)/);
    // Found out before any byte of weights was fetched.
    assert.equal(
      fx.hub.count((r) => r.method === 'GET'),
      0,
    );
  });

  test('offline with an empty cache: model, missing files, where it looked and how to get them; no request', async () => {
    const { message, hint } = await failure(
      resolveModel('facebook/dinov2-small', fx.opts({ env: { HF_HUB_OFFLINE: '1' } })),
      'hub-offline',
    );
    assert.equal(fx.hub.requests.length, 0);
    assert.match(message, /Model facebook\/dinov2-small is not available: offline mode is on \(HF_HUB_OFFLINE\)/);
    assert.match(message, /lacks config\.json, model\.safetensors/);
    assert.ok(message.includes(fx.tmp.cacheDir), 'names the cache folder');
    assert.ok(
      message.includes(path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-small')),
      'names the repo folder it looked for',
    );
    assert.match(hint, /huggingface-cli download facebook\/dinov2-small/);
    assert.match(hint, /copy the folder models--facebook--dinov2-small .* into /);
    assert.ok(hint.includes(fx.tmp.cacheDir));
    assert.match(hint, /unset HF_HUB_OFFLINE/);
    assert.match(hint, /set model_name to a local folder/);
    // Nothing was created in the cache by a failed offline look-up.
    assert.equal(fs.existsSync(fx.tmp.cacheDir), false);
  });

  test('offline through the option, with a revision, names the revision in the command', async () => {
    const { message, hint } = await failure(
      resolveModel('facebook/dinov2-small', fx.opts({ offline: true, revision: 'v1' })),
      'hub-offline',
    );
    assert.match(message, /at revision v1/);
    assert.match(hint, /huggingface-cli download facebook\/dinov2-small --revision v1/);
    assert.match(hint, /turn offline mode off/);
  });

  test('offline with a cache that lacks the ref lists the snapshots it has', async () => {
    const snap = path.join(fx.tmp.cacheDir, 'models--facebook--dinov2-small', 'snapshots', 'a'.repeat(40));
    fs.mkdirSync(snap, { recursive: true });
    const { message } = await failure(resolveModel('facebook/dinov2-small', fx.opts({ offline: true })), 'hub-offline');
    assert.match(message, /has no refs\/main \(it holds snapshots a{40}/);
  });

  test('an unreachable hub gives the same guidance as offline', async () => {
    const closed = await new FakeHub([]).start();
    const url = closed.url;
    await closed.close();
    const { message, hint } = await failure(
      resolveModel('facebook/dinov2-small', fx.opts({ endpoint: url })),
      'hub-unreachable',
    );
    assert.match(message, /cannot be reached/);
    assert.match(message, /ECONNREFUSED/);
    assert.match(hint, /huggingface-cli download facebook\/dinov2-small/);
  });

  test('5xx is retried, then reported as a server error', async () => {
    fx.hub.behaviour.failStatus = 503;
    const { message, hint } = await failure(
      resolveModel('facebook/dinov2-tiny', fx.opts({ retries: 2 })),
      'hub-server-error',
    );
    assert.match(message, /server error \(503\) for config\.json of facebook\/dinov2-tiny/);
    assert.match(hint, /Try again later/);
    assert.equal(fx.hub.count(), 3, 'one try and two retries');
  });

  test('a hub that never answers times out with a plain message', async () => {
    fx.hub.behaviour.hang = true;
    const { message } = await failure(
      resolveModel('facebook/dinov2-tiny', fx.opts({ timeoutMs: 150, retries: 0 })),
      'hub-timeout',
    );
    assert.match(message, /did not answer in time/);
    assert.match(message, /150 ms/);
  });

  test('aborting through the signal stops a waiting request with the abort reason', async () => {
    fx.hub.behaviour.hang = true;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stopped by the user')), 50);
    await assert.rejects(resolveModel('facebook/dinov2-tiny', fx.opts({ signal: ac.signal })), /stopped by the user/);
  });

  test('a failed resolution leaves no ref and no snapshot behind', async () => {
    await failure(resolveModel('org/pt-only', fx.opts()), 'model-weights-format');
    const repoDir = path.join(fx.tmp.cacheDir, 'models--org--pt-only');
    const tree = fs.existsSync(repoDir) ? listTree(repoDir) : [];
    assert.ok(!tree.some((p) => p.startsWith('refs/') || p.startsWith('snapshots/')), tree.join(', '));
  });
});
