// Issue 21: the CLI tried as a careless or hostile user would. Each case ran
// wrong before (data loss, a hang, a late failure, a silent overwrite, a raw
// error); each is a real `vembed` process on a tiny model and data made here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { engineEvents, errorsOf, warningsOf } from '../engineEvents';
import { SharedRunData, writeConfig, writeTinyModel } from '../run/fixtures';
import { makeSopTree, TEST } from '../data/sopTree';
import { readSopList } from '../../../src/engine/data/sopList';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
let shared: SharedRunData;
let work: string;

function vembed(args: string[], options: { cwd?: string; timeout?: number } = {}) {
  const started = Date.now();
  // SIGKILL at the timeout: a process stuck in native code ignores SIGTERM.
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: options.cwd ?? work,
    encoding: 'utf8',
    timeout: options.timeout ?? 60000,
    killSignal: 'SIGKILL',
  });
  const events = engineEvents(r.stdout);
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    events,
    seconds: (Date.now() - started) / 1000,
  };
}

/** A JPEG cut in half: its header is fine, its pixels end early. */
async function writeTruncatedJpeg(file: string): Promise<void> {
  const raw = Buffer.alloc(40 * 40 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 251;
  const jpeg = await sharp(raw, { raw: { width: 40, height: 40, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
  fs.writeFileSync(file, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
}

/**
 * A run folder with the shared model and data linked in and a config (LoRA, 2 epochs of 3 steps, no validation unless
 * asked).
 */
const runDir = (tag: string, extra: Record<string, unknown> = {}): string =>
  shared.runDir(tag, { val_data_path: null, ...extra }).dir;

const train = (dir: string, args: string[] = []) =>
  vembed(['train', '--config', 'train_i2i.yaml', '--json', ...args], { cwd: dir, timeout: 120000 });

before(async () => {
  shared = await SharedRunData.create('reliability');
  work = shared.work;
});

after(() => shared.remove());

// ---- 1. data loss

test('index build refuses a folder of other files and a plain file as --out; --force replaces; an index is rebuilt', () => {
  const cwd = path.join(work, 'index-out');
  fs.mkdirSync(cwd);
  fs.writeFileSync(path.join(cwd, 'notes.txt'), 'mine');
  fs.mkdirSync(path.join(cwd, 'photos'));
  const images = path.join(work, 'data', 'val.jsonl');
  const model = path.join(work, 'model');
  const a = vembed(['index', 'build', '--model', model, '--images', images, '--out', '.'], { cwd });
  assert.equal(a.code, 1, a.stderr);
  assert.match(a.stderr, /holds 2 other file\(s\).*not an index.*would delete them/);
  assert.match(a.stderr, /--force/);
  assert.deepEqual(fs.readdirSync(cwd).sort(), ['notes.txt', 'photos'], 'nothing was deleted');
  assert.doesNotMatch(a.stdout + a.stderr, /run_started|embedding/, 'refused before any work');

  const b = vembed(['index', 'build', '--model', model, '--images', images, '--out', 'notes.txt'], { cwd });
  assert.equal(b.code, 1);
  assert.match(b.stderr, /notes\.txt is a file, not an index folder/);
  assert.equal(fs.readFileSync(path.join(cwd, 'notes.txt'), 'utf8'), 'mine');

  // A new folder, then the same folder again (an index is rebuilt in place).
  for (let i = 0; i < 2; i++) {
    const c = vembed(['index', 'build', '--model', model, '--images', images, '--out', 'idx'], { cwd });
    assert.equal(c.code, 0, c.stderr);
  }
  const d = vembed(['index', 'build', '--model', model, '--images', images, '--out', 'photos', '--force'], { cwd });
  assert.equal(d.code, 0, d.stderr);
  assert.ok(fs.existsSync(path.join(cwd, 'photos', 'index.json')));
  assert.equal(fs.readFileSync(path.join(cwd, 'notes.txt'), 'utf8'), 'mine');
});

// ---- 2. numeric flags

test('--batch_size 0 / -1 and --num_workers 1000 are usage errors on every command that embeds, at once', async () => {
  const sop = await makeSopTree();
  try {
    const image = path.join(work, 'data', 'p0_v0.png');
    const model = path.join(work, 'model');
    const commands: string[][] = [
      ['embed', '--model', model, '--out', 'x.npy', image],
      ['index', 'build', '--model', model, '--images', path.join(work, 'data', 'val.jsonl'), '--out', 'idx-bad'],
      ['benchmark', 'sop', '--model_path', model, '--sop_root', sop, '--output_dir', 'bench-bad'],
      ['search', '--index', 'no-index', '--image', image],
    ];
    for (const cmd of commands) {
      for (const [flag, value, pattern] of [
        ['--batch_size', '0', /--batch_size must be >= 1 and <= 65536, got 0/],
        ['--batch_size', '-1', /--batch_size must be >= 1 and <= 65536, got -1/],
        ['--num_workers', '1000', /--num_workers must be >= 0 and <= 64, got 1000/],
      ] as const) {
        if (cmd[0] === 'search' && flag === '--num_workers') continue;
        const r = vembed([...cmd, flag, value], { timeout: 20000 });
        assert.equal(r.code, 2, `${cmd.slice(0, 2).join(' ')} ${flag} ${value}: ${r.stderr}`);
        assert.match(r.stderr, pattern);
      }
    }
  } finally {
    fs.rmSync(sop, { recursive: true, force: true });
  }
});

test('num_workers above two per core starts two per core and says so', () => {
  const cores = os.availableParallelism();
  if (2 * cores >= 64) return; // the flag's own limit is lower than the cap here
  const image = path.join(work, 'data', 'p0_v0.png');
  const r = vembed(['embed', '--model', 'model', '--out', 'w.npy', image, '--num_workers', '64', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const w = warningsOf(r.events).find((e) => e.code === 'workers-capped');
  assert.ok(w, r.stdout);
  assert.match(w.message, new RegExp(`num_workers 64: starting ${2 * cores} decoding threads`));
});

// ---- 3. hangs

test('an output_dir under /proc or /sys, or behind a file, fails at once with the path (validate says so too)', () => {
  const dir = runDir('bad-out');
  fs.writeFileSync(path.join(dir, 'a-file'), 'x');
  const cases: [string, RegExp][] = [
    ['/proc/vembed-test/out', /\/proc\/vembed-test.*(ENOENT|does not allow)/],
    [
      '/sys/vembed-test/out',
      /\/sys\/vembed-test.*(EPERM|EACCES|EROFS|ENOENT|not permitted|denied|read-only|does not allow)/,
    ],
    ['a-file/out', /a-file is a file, not a folder/],
    ['a-file', /a-file is a file, not a folder/],
  ];
  for (const [out, pattern] of cases) {
    const r = vembed(['train', '--config', 'train_i2i.yaml', '--set', `output_dir=${out}`], {
      cwd: dir,
      timeout: 20000,
    });
    assert.equal(r.signal, null, `${out}: killed by the test's timeout (a hang)`);
    assert.equal(r.code, 1, `${out}: ${r.stderr}`);
    assert.match(r.stderr, pattern, out);
    assert.doesNotMatch(r.stderr, /internal|Set VEMBED_DEBUG/, `${out}: a user error, not an internal one`);
    assert.ok(r.seconds < 15, `${out}: ${r.seconds}s`);
  }
  const text = fs
    .readFileSync(path.join(dir, 'train_i2i.yaml'), 'utf8')
    .replace(/^output_dir: .*$/m, 'output_dir: "/proc/vembed-test/out"');
  fs.writeFileSync(path.join(dir, 'proc.yaml'), text);
  const v = vembed(['validate', 'proc.yaml'], { cwd: dir, timeout: 20000 });
  assert.equal(v.code, 1, v.stdout);
  assert.match(v.stdout, /proc\.yaml:\d+:\d+: error: `output_dir`: \/proc\/vembed-test\/out is under \/proc/);
});

test('a huge config is refused at once, not validated for minutes', () => {
  // 1 MB, 100k keys: took 73 s before (the duplicate-key check was quadratic).
  const huge = path.join(work, 'huge.yaml');
  fs.writeFileSync(huge, Array.from({ length: 100000 }, (_, i) => `key_${i}: ${i}`).join('\n') + '\n');
  const a = vembed(['validate', huge], { timeout: 20000 });
  assert.equal(a.signal, null, 'killed by the timeout');
  assert.equal(a.code, 1);
  assert.match(a.stdout, /huge\.yaml:1:1: error: This config is \d+ KB; a training config is at most 256 KB/);
  assert.ok(a.seconds < 10, `${a.seconds}s`);
  // Under the size limit but with too many keys, and with duplicates: linear, quick.
  const many = path.join(work, 'many.yaml');
  fs.writeFileSync(many, Array.from({ length: 20000 }, (_, i) => `k${i % 15000}: 1`).join('\n') + '\n');
  const b = vembed(['validate', many], { timeout: 20000 });
  assert.equal(b.code, 1);
  assert.match(b.stdout, /This config has 20000 keys; a training config has at most 2000/);
  assert.ok(b.seconds < 10, `${b.seconds}s`);
  const dup = path.join(work, 'dup.yaml');
  fs.writeFileSync(dup, Array.from({ length: 1500 }, (_, i) => `k${i}: 1`).join('\n') + '\nk7: 2\n');
  const c = vembed(['validate', dup], { timeout: 20000 });
  assert.equal(c.code, 1);
  assert.match(c.stdout, /dup\.yaml:1501:1: error: This key is set twice/);
  assert.ok(c.seconds < 10, `${c.seconds}s`);
});

// ---- 4. late failure

test('a truncated JPEG is found by the check before training, named by file:line', async () => {
  const dir = runDir('trunc-check');
  fs.rmSync(path.join(dir, 'data'));
  fs.cpSync(path.join(work, 'data'), path.join(dir, 'data'), { recursive: true });
  await writeTruncatedJpeg(path.join(dir, 'data', 'cut.jpg'));
  fs.appendFileSync(
    path.join(dir, 'data', 'train.jsonl'),
    JSON.stringify({ query_image: 'cut.jpg', positive: 'p0_v0.png', label: 100 }) + '\n',
  );
  const line = fs
    .readFileSync(path.join(dir, 'data', 'train.jsonl'), 'utf8')
    .trim()
    .split('\n').length;
  const r = train(dir);
  assert.equal(r.code, 1, r.stdout);
  const err = errorsOf(r.events)[0]!;
  assert.match(err.message, new RegExp(`train\\.jsonl:${line}: cut\\.jpg: .*premature end`, 'i'));
  assert.ok(!r.events.some((e) => e.type === 'run_started' || e.type === 'step'), 'nothing trained');
  // skip_invalid_records leaves that record out and trains.
  const s = train(dir, ['--set', 'skip_invalid_records=true', '--set', 'max_steps=1', '--set', 'output_dir=out-skip']);
  assert.equal(s.code, 0, s.stdout.slice(-2000));
  assert.match(
    warningsOf(s.events)
      .map((w) => w.message)
      .join('\n'),
    /skipped 1 invalid record/,
  );
});

test('without the up-front check a truncated JPEG is named by its record mid-run, and skipped when asked', async () => {
  const dir = runDir('trunc-late', { validate_data: false });
  fs.rmSync(path.join(dir, 'data'));
  fs.cpSync(path.join(work, 'data'), path.join(dir, 'data'), { recursive: true });
  await writeTruncatedJpeg(path.join(dir, 'data', 'cut.jpg'));
  // Every line uses it, so the first batch holds it.
  const lines = fs
    .readFileSync(path.join(dir, 'data', 'train.jsonl'), 'utf8')
    .trim()
    .split('\n');
  lines[3] = JSON.stringify({ query_image: 'cut.jpg', positive: 'p1_v0.png', label: 101 });
  fs.writeFileSync(path.join(dir, 'data', 'train.jsonl'), lines.join('\n') + '\n');
  const r = train(dir);
  assert.equal(r.code, 1, r.stdout.slice(-2000));
  const err = errorsOf(r.events)[0]!;
  assert.match(err.message, /train\.jsonl:4: cut\.jpg: .*premature end.*found during training/i);
  assert.doesNotMatch(err.code, /internal/);

  const s = train(dir, ['--set', 'skip_invalid_records=true', '--set', 'output_dir=out-skip']);
  assert.equal(s.code, 0, s.stdout.slice(-2000));
  const warnings = warningsOf(s.events);
  assert.ok(
    warnings.some((w) => w.code === 'record-skipped' && /train\.jsonl:4: cut\.jpg/.test(w.message)),
    JSON.stringify(warnings),
  );
  assert.ok(warnings.some((w) => w.code === 'records-skipped' && /skipped 1 record/.test(w.message)));
  assert.deepEqual(
    s.events.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? e.step : 0)),
    [1, 2, 3, 4, 5, 6],
  );
  assert.equal(s.events.at(-1)?.type === 'finished' && s.events.at(-1)?.type, 'finished');
});

test('benchmark sop names the list line of an image that does not decode', async () => {
  const sop = await makeSopTree();
  try {
    await writeTruncatedJpeg(path.join(sop, TEST[2]!.path));
    const r = vembed([
      'benchmark',
      'sop',
      '--model_path',
      path.join(work, 'model'),
      '--sop_root',
      sop,
      '--output_dir',
      path.join(work, 'bench-trunc'),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`Ebay_test\\.txt:4: cannot read image .*${TEST[2]!.path.replace('/', '\\/')}.*premature end`, 'i'),
    );
    assert.doesNotMatch(r.stderr, /internal/);
  } finally {
    fs.rmSync(sop, { recursive: true, force: true });
  }
});

// ---- 5. silent overwrite

test('train refuses an output_dir holding a finished run; --overwrite replaces it; --resume with a new max_steps continues', () => {
  const dir = runDir('again', { max_steps: 2 });
  const first = train(dir);
  assert.equal(first.code, 0, first.stdout.slice(-2000));
  const second = train(dir);
  assert.equal(second.code, 1);
  const err = errorsOf(second.events)[0]!;
  assert.equal(err.code, 'run-exists');
  assert.match(err.message, /already holds a finished run \(1 checkpoint\(s\), e\.g\. checkpoint-step-2\)/);
  assert.match(err.hint ?? '', /--resume latest.*--overwrite/);
  const events = () =>
    fs
      .readFileSync(path.join(dir, 'out', 'events.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
  assert.equal(events().filter((e) => e.type === 'run_started').length, 1, 'the refused run wrote nothing');

  const resumed = train(dir, ['--resume', 'latest', '--set', 'max_steps=4']);
  assert.equal(resumed.code, 0, resumed.stdout.slice(-2000));
  assert.deepEqual(
    resumed.events.filter((e) => e.type === 'step').map((e) => (e.type === 'step' ? e.step : 0)),
    [3, 4],
  );
  const started = resumed.events.find((e) => e.type === 'run_started');
  assert.equal(started?.type === 'run_started' && started.totalSteps, 4);

  fs.writeFileSync(path.join(dir, 'out', 'my-notes.txt'), 'keep');
  const over = train(dir, ['--overwrite']);
  assert.equal(over.code, 0, over.stdout.slice(-2000));
  assert.deepEqual(
    fs.readdirSync(path.join(dir, 'out')).filter((n) => n.startsWith('checkpoint-')),
    ['checkpoint-step-2'],
  );
  assert.equal(events().filter((e) => e.type === 'run_started').length, 1, 'events.jsonl holds the new run only');
  assert.equal(
    fs.readFileSync(path.join(dir, 'out', 'my-notes.txt'), 'utf8'),
    'keep',
    "only the run's own files are removed",
  );

  const both = train(dir, ['--overwrite', '--resume', 'latest']);
  assert.equal(both.code, 2);
});

// ---- smaller

test('NaN weights: embed refuses, naming the weights, and writes nothing', async () => {
  const poisoned = path.join(work, 'nan-model');
  await writeTinyModel(poisoned, { poison: true });
  const image = path.join(work, 'data', 'p0_v0.png');
  const r = vembed(['embed', '--model', poisoned, '--out', 'nan.npy', image]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    /NaN or infinite embeddings for 1 of 1 image.*weights hold NaN or infinite values \(1 tensor\(s\), e\.g\. layernorm\.weight\)/,
  );
  assert.equal(fs.existsSync(path.join(work, 'nan.npy')), false);
});

test('an adapter whose base model is missing says the path came from adapter_config.json', () => {
  const dir = runDir('adapter', { max_steps: 1 });
  const r = train(dir);
  assert.equal(r.code, 0, r.stdout.slice(-2000));
  const adapter = path.join(dir, 'moved-adapter');
  fs.cpSync(path.join(dir, 'out', 'checkpoint-step-1'), adapter, { recursive: true });
  const cfgFile = path.join(adapter, 'adapter_config.json');
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
  cfg.base_model_name_or_path = path.join(work, 'gone', 'base-model');
  fs.writeFileSync(cfgFile, JSON.stringify(cfg));
  const e = vembed(['embed', '--model', adapter, '--out', 'a.npy', path.join(work, 'data', 'p0_v0.png')]);
  assert.equal(e.code, 1, e.stderr);
  assert.ok(e.stderr.includes(`base_model_name_or_path in ${cfgFile}`), e.stderr);
  assert.ok(e.stderr.includes(path.join(work, 'gone', 'base-model')), e.stderr);
});

test('index metadata with ../ paths is refused when the index loads', () => {
  const cwd = path.join(work, 'escape');
  fs.mkdirSync(cwd);
  const b = vembed(
    [
      'index',
      'build',
      '--model',
      path.join(work, 'model'),
      '--images',
      path.join(work, 'data', 'val.jsonl'),
      '--out',
      'idx',
    ],
    { cwd },
  );
  assert.equal(b.code, 0, b.stderr);
  const meta = path.join(cwd, 'idx', 'metadata.jsonl');
  const lines = fs.readFileSync(meta, 'utf8').trim().split('\n');
  lines[2] = JSON.stringify({ path: '../../../../etc/passwd' });
  fs.writeFileSync(meta, lines.join('\n') + '\n');
  const s = vembed(['search', '--index', 'idx', '--image', path.join(work, 'data', 'p0_v0.png')], { cwd });
  assert.equal(s.code, 1, s.stdout);
  assert.match(s.stderr, /metadata\.jsonl:3: path `\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd` leaves the image root/);
});

// ---- every command stops on SIGINT/SIGTERM

test('a named pipe as the config or data file is refused, not read forever', () => {
  const fifo = path.join(work, 'pipe.yaml');
  const made = spawnSync('mkfifo', [fifo]);
  if (made.status !== 0) return;
  const r = vembed(['validate', fifo], { timeout: 15000 });
  assert.equal(r.signal, null, 'killed by the timeout: the read never ended');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /pipe\.yaml is not a regular file/);
  const jsonl = path.join(work, 'pipe.jsonl');
  spawnSync('mkfifo', [jsonl]);
  const i = vembed(['index', 'build', '--model', 'model', '--images', jsonl, '--out', 'idx-pipe'], { timeout: 15000 });
  assert.equal(i.signal, null, 'killed by the timeout: the read never ended');
  assert.equal(i.code, 1);
  assert.match(i.stderr, /pipe\.jsonl: not a regular file/);
});

test('SIGTERM stops embed at once (exit 143); only train finishes its step first', async () => {
  const list = path.join(work, 'many.txt');
  fs.writeFileSync(list, Array.from({ length: 3000 }, () => path.join(work, 'data', 'p0_v0.png')).join('\n'));
  const child = spawn(
    process.execPath,
    [bin, 'embed', '--model', 'model', '--out', 'many.npy', '--list', list, '--batch_size', '4', '--json'],
    { cwd: work },
  );
  let out = '';
  let sentAt = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (!sentAt && /"type":"progress"/.test(out)) {
      sentAt = Date.now();
      child.kill('SIGTERM');
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  assert.ok(sentAt > 0, out.slice(-1000));
  assert.equal(code, 143, out.slice(-1000));
  assert.ok(Date.now() - sentAt < 5000, `${Date.now() - sentAt} ms after SIGTERM`);
  assert.equal(fs.existsSync(path.join(work, 'many.npy')), false);
});

test('Ctrl+C while train checks its images is a clean stop (exit 0, finished: stopped), not an internal error', async () => {
  // Every image of the built-in sample set, each decoded in full by the check: long enough to interrupt.
  const sample = path.join(root, 'data', 'sample-sop');
  const images = readSopList(path.join(sample, 'Ebay_train.txt')).map((image) => image.path);
  const dir = path.join(work, 'stop-in-check');
  fs.mkdirSync(dir);
  fs.symlinkSync(path.join(work, 'model'), path.join(dir, 'model'));
  const pairs = images.map((p, i) =>
    JSON.stringify({ query_image: p, positive: images[(i + 1) % images.length], label: i }),
  );
  fs.writeFileSync(path.join(dir, 'pairs.jsonl'), pairs.join('\n') + '\n');
  writeConfig(dir, { data_path: 'pairs.jsonl', image_root: sample, val_data_path: null, validate_data: true });
  const child = spawn(process.execPath, [bin, 'train', '--config', 'train_i2i.yaml', '--json'], { cwd: dir });
  let out = '';
  let sent = false;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (!sent && /"task":"checking training images"/.test(out)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  assert.ok(sent, out.slice(-1000));
  const events = engineEvents(out);
  assert.deepEqual(errorsOf(events), [], out.slice(-1000));
  assert.equal(code, 0, out.slice(-1000));
  const finished = events.find((e) => e.type === 'finished');
  assert.equal(finished && finished.type === 'finished' ? finished.status : undefined, 'stopped');
  assert.ok(!events.some((e) => e.type === 'step'), 'no step ran');
});
