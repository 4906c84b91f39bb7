import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import { withFileLock } from '../../../src/engine/hub/lock';
import { FakeHub, makeTempHome, tinyDinoRepo, type FakeRepo } from './fakeHub';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('the download lock', () => {
  let tmp: ReturnType<typeof makeTempHome>;
  beforeEach(() => (tmp = makeTempHome()));
  afterEach(() => tmp.cleanup());

  test('critical sections never overlap, and the lock file is gone afterwards', async () => {
    const lock = path.join(tmp.root, '.locks', 'x.vembed.lock');
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      [0, 1, 2].map((i) =>
        withFileLock(
          lock,
          async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await sleep(30);
            order.push(i);
            inside--;
          },
          { pollMs: 5 },
        ),
      ),
    );
    assert.equal(maxInside, 1);
    assert.equal(order.length, 3);
    assert.equal(fs.existsSync(lock), false);
  });

  test('a live owner that outlasts staleMs keeps its lock by refreshing it', async () => {
    const lock = path.join(tmp.root, 'y.vembed.lock');
    let secondEntered = 0;
    let firstLeft = 0;
    await Promise.all([
      withFileLock(
        lock,
        async () => {
          await sleep(250);
          firstLeft = Date.now();
        },
        { staleMs: 80, refreshMs: 20 },
      ),
      sleep(10).then(() =>
        withFileLock(lock, async () => void (secondEntered = Date.now()), { staleMs: 80, pollMs: 10 }),
      ),
    ]);
    assert.ok(secondEntered >= firstLeft, 'the waiter entered only after the owner left');
  });

  test('a lock untouched for staleMs is taken over', async () => {
    const lock = path.join(tmp.root, 'z.vembed.lock');
    // Unreadable content (another tool, a crash mid-write): judged by age alone.
    fs.writeFileSync(lock, 'garbage');
    const old = new Date(Date.now() - 10_000);
    fs.utimesSync(lock, old, old);
    let ran = false;
    await withFileLock(lock, async () => void (ran = true), { staleMs: 1000 });
    assert.equal(ran, true);
  });

  test('waiting stops when the signal aborts', async () => {
    const lock = path.join(tmp.root, 'w.vembed.lock');
    fs.writeFileSync(
      lock,
      JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), token: 'held' }),
    );
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stopped by the user')), 50);
    await assert.rejects(
      withFileLock(lock, async () => undefined, { signal: ac.signal, pollMs: 10 }),
      /stopped by the user/,
    );
  });
});

describe('two processes downloading the same model into one cache', () => {
  let hub: FakeHub;
  let repo: FakeRepo;
  let tmp: ReturnType<typeof makeTempHome>;
  before(async () => {
    repo = tinyDinoRepo('facebook/dinov2-tiny');
    hub = await new FakeHub([repo]).start();
  });
  after(async () => hub.close());
  beforeEach(() => (tmp = makeTempHome()));
  afterEach(() => tmp.cleanup());

  test('both get a complete model and each blob is fetched once', async () => {
    const hubModule = path.resolve(__dirname, '../../../src/engine/hub/index.ts');
    const script = path.join(tmp.root, 'child.ts');
    fs.writeFileSync(
      script,
      `import { resolveModel } from ${JSON.stringify(hubModule)};\n` +
        `resolveModel('facebook/dinov2-tiny', { endpoint: ${JSON.stringify(hub.url)}, cacheDir: ${JSON.stringify(tmp.cacheDir)}, env: {}, homeDir: ${JSON.stringify(tmp.home)}, retryDelayMs: 10 })\n` +
        `  .then((r) => { process.stdout.write(JSON.stringify(r)); }, (e) => { process.stderr.write(String(e)); process.exit(1); });\n`,
    );
    const run = (): Promise<{ code: number | null; out: string; err: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script], {
          cwd: path.resolve(__dirname, '../../..'),
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const [a, b] = await Promise.all([run(), run()]);
    assert.equal(a.code, 0, a.err);
    assert.equal(b.code, 0, b.err);
    const ra = JSON.parse(a.out) as { folder: string };
    const rb = JSON.parse(b.out) as { folder: string };
    assert.equal(ra.folder, rb.folder);
    assert.ok(
      fs.readFileSync(path.join(ra.folder, 'model.safetensors')).equals(repo.files['model.safetensors']!.content),
    );
    const cdnGets = hub.count((r) => r.method === 'GET' && r.path.startsWith('/cdn/'));
    const resolveGets = hub.count((r) => r.method === 'GET' && r.path.includes('/resolve/'));
    // Whoever came second found the blobs (or waited on the lock and then found them).
    assert.equal(cdnGets, 1);
    assert.equal(resolveGets, 2, 'config.json and preprocessor_config.json once each');
  });
});
