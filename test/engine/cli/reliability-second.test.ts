// Issue 29: the CLI's second reliability campaign. Each numbered hole is a
// real `vembed` process on a tiny model and data made here; each case ran
// wrong before (a hang, a device replaced, a broken model pair, silent wrong
// output, an OOM kill, an ignored Ctrl+C, a lost result, a raw message).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { engineEvents, errorsOf, warningsOf } from '../engineEvents';
import { SharedRunData } from '../run/fixtures';
import { makeSopTree } from '../data/sopTree';
import { writeNpy } from '../../../src/shared/artifacts/npy';
import { sopListFile } from '../../../src/engine/data/sopList';

const root = path.resolve(__dirname, '../../..');
const bin = path.join(root, 'bin', 'vembed.js');
const cores = os.availableParallelism();
let shared: SharedRunData;
let work: string;
let sop: string;
let model: string;
/** Two benchmarks of the same images (the error analysis can compare them). */
let benchA: string;
let benchB: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  events: ReturnType<typeof engineEvents>;
  seconds: number;
}

function vembed(
  args: string[],
  options: { cwd?: string; timeout?: number; env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {},
): Run {
  const started = Date.now();
  // SIGKILL at the timeout: a process stuck in native code ignores SIGTERM.
  const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), bin, ...args], {
    cwd: options.cwd ?? work,
    encoding: 'utf8',
    timeout: options.timeout ?? 60000,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...options.env },
  });
  return asRun(r, started);
}

function asRun(r: SpawnSyncReturns<string>, started: number): Run {
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    events: engineEvents(r.stdout),
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * `vembed args` in its own user and mount namespace where `setup` (shell, `$1` = `dir`) has mounted something on
 * `dir` (a read-only bind, a tiny tmpfs); undefined where namespaces are not allowed.
 */
function vembedMounted(dir: string, setup: string, args: string[]): Run | undefined {
  const probe = spawnSync('unshare', ['-rm', 'true']);
  if (probe.status !== 0) return undefined;
  const started = Date.now();
  const r = spawnSync(
    'unshare',
    ['-rm', 'sh', '-c', `${setup} && shift && exec "$@"`, 'sh', dir, process.execPath, bin, ...args],
    { cwd: work, encoding: 'utf8', timeout: 60000, killSignal: 'SIGKILL' },
  );
  return asRun(r, started);
}

const benchmark = (out: string, extra: string[] = []) =>
  vembed(['benchmark', 'sop', '--model_path', model, '--sop_root', sop, '--output_dir', out, ...extra]);

/** Files of a folder, sorted, hidden ones (temporaries) included. */
const filesOf = (dir: string) => fs.readdirSync(dir).sort();

before(async () => {
  shared = await SharedRunData.create('reliability-2');
  work = shared.work;
  model = path.join(work, 'model');
  sop = await makeSopTree();
  benchA = path.join(work, 'bench-a');
  benchB = path.join(work, 'bench-b');
  for (const dir of [benchA, benchB]) {
    const r = benchmark(dir);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(() => {
  shared.remove();
  fs.rmSync(sop, { recursive: true, force: true });
});

// ---- 1. thread counts

test('1. --threads 999 is capped by the thread rule with a warning, and the benchmark finishes', () => {
  const r = benchmark(path.join(work, 'bench-threads'), ['--threads', '999', '--json']);
  assert.equal(r.signal, null, `killed by the test's timeout after ${r.seconds}s: a hang`);
  assert.equal(r.code, 0, r.stdout.slice(-2000) + r.stderr);
  const w = warningsOf(r.events).find((e) => e.code === 'threads-capped');
  assert.ok(w, JSON.stringify(warningsOf(r.events)));
  assert.match(w.message, new RegExp(`--threads 999: starting .*${2 * cores} ranking.* at most 2 per core`));
  const report = JSON.parse(fs.readFileSync(path.join(work, 'bench-threads', 'sop_report.json'), 'utf8'));
  assert.ok(report.search_threads <= 2 * cores, `ranking ran ${report.search_threads} threads`);
  const started = r.events.find((e) => e.type === 'run_started');
  const threads = /\((\d+) threads?/.exec(started?.type === 'run_started' ? started.device : '');
  if (threads) assert.ok(Number(threads[1]) <= 2 * cores, started?.type === 'run_started' ? started.device : '');
  // Training's evaluations rank through the same rule.
  const dir = shared.runDir('threads-train', { max_steps: 1 });
  const t = vembed(['train', '--config', 'train_i2i.yaml', '--json', '--threads', '999'], {
    cwd: dir.dir,
    timeout: 120000,
  });
  assert.equal(t.signal, null, `train: killed by the test's timeout after ${t.seconds}s: a hang`);
  assert.equal(t.code, 0, t.stdout.slice(-2000));
  assert.ok(warningsOf(t.events).some((e) => e.code === 'threads-capped'));
  assert.ok(t.events.filter((e) => e.type === 'evaluation').length >= 2, 'evaluated before and after');
  // VEMBED_THREADS goes through the same rule, and says so under its own name.
  const e = vembed(['embed', '--model', model, '--out', 'threads.npy', path.join(work, 'data', 'p0_v0.png')], {
    env: { VEMBED_THREADS: '999' },
  });
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /warning: VEMBED_THREADS 999: starting/);
});

// ---- 2. device nodes and links as outputs

test('2. a FIFO, a character device or a link to one as an output is refused before work, and left as it was', (t) => {
  const dir = path.join(work, 'nodes');
  fs.mkdirSync(dir);
  const fifo = path.join(dir, 'fifo');
  if (spawnSync('mkfifo', [fifo]).status !== 0) return t.skip('no mkfifo here');
  const link = path.join(dir, 'stdout-link');
  fs.symlinkSync('/proc/self/fd/1', link);
  // A character device of our own (root only): what /dev/null is, without risking the system's.
  const device = path.join(dir, 'null-device');
  const haveDevice = spawnSync('mknod', [device, 'c', '1', '3']).status === 0;
  const report = path.join(benchB, 'sop_report.json');
  const image = path.join(work, 'data', 'p0_v0.png');
  const cases: [string, string[], string][] = [
    ['compare --analysis', ['benchmark', 'compare', report, report, '--analysis', fifo], fifo],
    ['compare --markdown', ['benchmark', 'compare', report, report, '--markdown', link], link],
    ['export --out', ['export', 'onnx', '--model', model, '--out', `${link}.onnx`], `${link}.onnx`],
    ['check-data --report', ['check-data', '--sop_root', sop, '--report', fifo], fifo],
    ['embed --out', ['embed', '--model', model, '--out', `${fifo}.npy`, image], `${fifo}.npy`],
    ['index build --out', ['index', 'build', '--model', model, '--images', image, '--out', fifo], fifo],
  ];
  fs.symlinkSync(link, `${link}.onnx`);
  fs.symlinkSync(fifo, `${fifo}.npy`);
  if (haveDevice)
    cases.push(['compare --analysis (device)', ['benchmark', 'compare', report, report, '--analysis', device], device]);
  for (const [what, args, target] of cases) {
    const r = vembed(args, { timeout: 30000 });
    assert.equal(r.signal, null, `${what}: killed by the timeout`);
    assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
    assert.ok(r.stderr.includes(target), `${what}: the message names ${target}: ${r.stderr}`);
    assert.match(r.stderr, /named pipe|character device|symbolic link/, what);
    assert.doesNotMatch(r.stdout, /Recall@1|wrote|embedding/, `${what}: refused before any work`);
  }
  assert.ok(fs.lstatSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  assert.ok(fs.lstatSync(link).isSymbolicLink(), 'the link is still a link');
  assert.ok(fs.lstatSync(`${link}.onnx`).isSymbolicLink());
  if (haveDevice) assert.ok(fs.lstatSync(device).isCharacterDevice(), 'the device is still a device');
  assert.deepEqual(
    filesOf(dir).filter((n) => n.includes('.tmp-')),
    [],
  );
});

// ---- 3. the external-data pair

/** A preload that makes the rename of a `.onnx` file fail with EIO: the second of the pair's two renames. */
function failOnnxRename(): string {
  const file = path.join(work, 'fail-onnx-rename.cjs');
  fs.writeFileSync(
    file,
    `const fs = require('node:fs');
const rename = fs.renameSync;
fs.renameSync = (from, to) => {
  if (String(to).endsWith('.onnx')) {
    const e = new Error('EIO: i/o error, rename'); e.code = 'EIO'; e.syscall = 'rename'; throw e;
  }
  return rename(from, to);
};
`,
  );
  return file;
}

async function embedWithOnnx(file: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(file);
  try {
    const dims = [1, 3, 28, 28];
    const pixels = new Float32Array(3 * 28 * 28).map((_, i) => Math.sin(i));
    const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels, dims) });
    return out.embedding!.data as Float32Array;
  } finally {
    await session.release();
  }
}

test('3. a failed second rename leaves the earlier model and its data loadable, and nothing of the new one', async () => {
  const dir = path.join(work, 'pair');
  fs.mkdirSync(dir);
  const out = path.join(dir, 'model.onnx');
  const first = vembed(['export', 'onnx', '--model', model, '--out', out, '--external_data', '--size', '28']);
  assert.equal(first.code, 0, first.stderr);
  const before = filesOf(dir);
  assert.equal(before.length, 2, before.join(', '));
  const expected = await embedWithOnnx(out);

  // Another size: other data at other offsets, so the old .onnx cannot read the new data file.
  const failed = vembed(['export', 'onnx', '--model', model, '--out', out, '--external_data', '--size', '42'], {
    nodeArgs: ['--require', failOnnxRename()],
  });
  assert.equal(failed.code, 1, failed.stdout + failed.stderr);
  assert.match(failed.stderr, new RegExp(`input/output error writing ${out.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
  assert.deepEqual(filesOf(dir), before, 'the earlier pair as it was, no new data file, no temporary');
  assert.deepEqual(await embedWithOnnx(out), expected, 'the earlier model still loads and gives its embeddings');

  // A working export replaces the pair; the earlier data file goes once the new .onnx is in place.
  const again = vembed(['export', 'onnx', '--model', model, '--out', out, '--external_data', '--size', '42']);
  assert.equal(again.code, 0, again.stderr);
  const after = filesOf(dir);
  assert.equal(after.length, 2, after.join(', '));
  assert.ok(!after.some((n) => before.includes(n) && n.endsWith('.data')), 'the old data file was removed');
  const session = await ort.InferenceSession.create(out);
  await session.release();

  // Exporting onto a folder leaves no data file or temporary under any name.
  const folder = path.join(dir, 'folder.onnx');
  fs.mkdirSync(folder);
  const onto = vembed(['export', 'onnx', '--model', model, '--out', folder, '--external_data']);
  assert.equal(onto.code, 1);
  assert.deepEqual(filesOf(dir), [...after, 'folder.onnx'].sort());
});

// ---- 4. silent wrong output of the map

/** A benchmark folder holding only `rows` as embeddings.npy and a metadata.jsonl naming them. */
function mapFolder(tag: string, rows: number[][]): string {
  const dir = path.join(work, tag);
  fs.mkdirSync(dir);
  const d = rows[0]!.length;
  writeNpy(path.join(dir, 'embeddings.npy'), {
    dtype: '<f4',
    shape: [rows.length, d],
    data: Float32Array.from(rows.flat()),
  });
  fs.writeFileSync(
    path.join(dir, 'metadata.jsonl'),
    rows.map((_, i) => JSON.stringify({ path: `img_${i}.jpg`, label: i % 7 })).join('\n') + '\n',
  );
  return dir;
}

test('4. benchmark map names NaN or infinite rows and fails; identical rows are said to have no variance', () => {
  const random = (i: number) => Array.from({ length: 8 }, (_, j) => Math.sin(i * 7.1 + j * 1.3));
  for (const [tag, bad] of [
    ['map-nan', NaN],
    ['map-inf', Infinity],
  ] as const) {
    const rows = Array.from({ length: 720 }, (_, i) => random(i));
    rows[5]![3] = bad;
    const dir = mapFolder(tag, rows);
    const r = vembed(['benchmark', 'map', dir]);
    assert.equal(r.code, 1, `${tag}: ${r.stdout}`);
    assert.match(r.stderr, /1 of 720 rows hold NaN or infinite values: row 5 \(img_5\.jpg\)/, tag);
    assert.equal(fs.existsSync(path.join(dir, 'embedding_map.json')), false, `${tag}: no map written`);
  }
  const same = mapFolder(
    'map-same',
    Array.from({ length: 50 }, () => random(1)),
  );
  const s = vembed(['benchmark', 'map', same]);
  assert.equal(s.code, 0, s.stderr);
  assert.match(s.stderr, /no variance to show: all 50 embeddings are the same direction/);
  assert.doesNotMatch(s.stdout + s.stderr, /100\.0%/);
});

// ---- 6. --size bounded by memory

test('6. export onnx --size far beyond memory is refused at once, with the reason and a size that fits', () => {
  const r = vembed(['export', 'onnx', '--model', model, '--out', 'huge.onnx', '--size', '280000'], {
    timeout: 30000,
  });
  assert.equal(r.signal, null, `killed after ${r.seconds}s`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--size 280000 needs about [\d.]+ GB of memory to export: a 20000 x 20000 grid/);
  assert.match(r.stderr, /(this machine's memory|cgroup memory limit) is [\d.]+ GB/);
  const fits = Number(/Use --size (\d+) or less here/.exec(r.stderr)?.[1]);
  assert.ok(fits > 0 && fits % 14 === 0 && fits < 280000, r.stderr);
  assert.ok(r.seconds < 20, `${r.seconds}s`);
  assert.equal(fs.existsSync(path.join(work, 'huge.onnx')), false);
});

// ---- 7. Ctrl+C during export

/**
 * Runs the export; with `signal`, sends it `delayMs` after the run_started event. Returns the exit code, the
 * output and how long the export ran after run_started.
 */
async function interruptExport(
  signal: NodeJS.Signals | null,
  delayMs = 0,
): Promise<{ code: number | null; dir: string; out: string; msAfterStart: number }> {
  const dir = fs.mkdtempSync(path.join(work, 'stop-'));
  // A large input makes the export take seconds (the position table is resized and written): time to interrupt.
  const child = spawn(
    process.execPath,
    [
      bin,
      'export',
      'onnx',
      '--model',
      model,
      '--out',
      path.join(dir, 'm.onnx'),
      '--size',
      '10500',
      '--external_data',
      '--json',
    ],
    { cwd: work },
  );
  let out = '';
  let startedAt = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    if (!startedAt && /"type":"run_started"/.test(out)) {
      startedAt = performance.now();
      if (signal) setTimeout(() => child.kill(signal), delayMs);
    }
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(killer);
  return { code, dir, out, msAfterStart: startedAt ? performance.now() - startedAt : 0 };
}

test('7. SIGINT or SIGTERM well into export onnx stops it (130 / 143) and leaves nothing behind', async () => {
  // The signal lands halfway through the work after run_started, timed on this machine by one export run to
  // its end (a fixed delay would miss the work on a fast machine).
  const whole = await interruptExport(null);
  assert.equal(whole.code, 0, whole.out.slice(-1500));
  fs.rmSync(whole.dir, { recursive: true, force: true });
  const delayMs = Math.max(50, whole.msAfterStart / 2);
  for (const [signal, expected] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    const r = await interruptExport(signal, delayMs);
    assert.equal(r.code, expected, `${signal}: ${r.out.slice(-1500)}`);
    assert.deepEqual(filesOf(r.dir), [], `${signal}: nothing left`);
    assert.deepEqual(errorsOf(engineEvents(r.out)), [], 'a stop, not an error');
  }
});

// ---- 8. an absolute --list

test('8. an absolute --list stays absolute (also Windows-shaped paths)', () => {
  const lists = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-lists-'));
  try {
    const half = path.join(lists, 'half_test.txt');
    const lines = fs.readFileSync(path.join(sop, 'Ebay_test.txt'), 'utf8').trim().split('\n');
    fs.writeFileSync(half, lines.slice(0, 4).join('\n') + '\n');
    const out = path.join(work, 'bench-half');
    const r = benchmark(out, ['--list', half]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(fs.existsSync(path.join(out, 'sop_report.json')));
    assert.match(r.stdout, /3 images of 2 products/);
  } finally {
    fs.rmSync(lists, { recursive: true, force: true });
  }
  assert.equal(sopListFile('C:\\data\\sop', 'D:\\lists\\half_test.txt', path.win32), 'D:\\lists\\half_test.txt');
  assert.equal(sopListFile('C:\\data\\sop', '\\\\server\\share\\half.txt', path.win32), '\\\\server\\share\\half.txt');
  assert.equal(sopListFile('C:\\data\\sop', 'Ebay_test.txt', path.win32), 'C:\\data\\sop\\Ebay_test.txt');
  assert.equal(sopListFile('/data/sop', '/lists/half.txt', path.posix), '/lists/half.txt');
  assert.equal(sopListFile('/data/sop', 'Ebay_test.txt', path.posix), '/data/sop/Ebay_test.txt');
});

// ---- 9. a read-only data folder

test('9. check-data on a read-only data folder prints its findings, then says the report could not be written', (t) => {
  const r = vembedMounted(sop, 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"', [
    'check-data',
    '--sop_root',
    sop,
  ]);
  if (!r) return t.skip('no user namespaces here (unshare -rm)');
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /Data health: \d+ train images of \d+ products/, 'the findings are printed');
  assert.doesNotMatch(r.stdout, /Report: /, 'no report is claimed');
  assert.match(r.stderr, /could not be saved as a report: .*data-health\.json is on a read-only file system/);
  assert.match(r.stderr, /--report FILE/);
});

// ---- 10. index build's hint

test('10. index build with a bad image: the hint names --skip_invalid_records, which index build takes', () => {
  const dir = path.join(work, 'index-bad');
  fs.mkdirSync(dir);
  for (const f of ['p0_v0.png', 'p0_v1.png', 'p1_v0.png', 'p1_v1.png'])
    fs.copyFileSync(path.join(work, 'data', f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'broken.png'), 'not an image at all');
  fs.writeFileSync(
    path.join(dir, 'pairs.jsonl'),
    [
      { query_image: 'p0_v0.png', positive: 'p0_v1.png', label: 0 },
      { query_image: 'broken.png', positive: 'p1_v0.png', label: 1 },
      { query_image: 'p1_v0.png', positive: 'p1_v1.png', label: 1 },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n') + '\n',
  );
  const args = ['index', 'build', '--model', model, '--images', path.join(dir, 'pairs.jsonl'), '--out'];
  const a = vembed([...args, path.join(dir, 'idx')]);
  assert.equal(a.code, 1, a.stderr);
  assert.match(a.stderr, /pairs\.jsonl:2/);
  assert.match(a.stderr, /hint: .*--skip_invalid_records/);
  assert.doesNotMatch(a.stderr, /set skip_invalid_records: true/);
  const b = vembed([...args, path.join(dir, 'idx'), '--skip_invalid_records', '--json']);
  assert.equal(b.code, 0, b.stdout.slice(-1500));
  assert.ok(warningsOf(b.events).some((w) => /pairs\.jsonl:2: broken\.png/.test(w.message)));
  const meta = fs
    .readFileSync(path.join(dir, 'idx', 'metadata.jsonl'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(meta.length, 4, 'the four images of the two good records');
  assert.ok(!meta.some((l) => l.includes('broken.png')));
});

// ---- 11. temporaries

test('11. a folder as --out / --markdown names the folder and leaves no temporary; stale temporaries are cleaned', () => {
  const dir = path.join(work, 'temps');
  fs.mkdirSync(dir);
  fs.mkdirSync(path.join(dir, 'dir.onnx'));
  fs.mkdirSync(path.join(dir, 'table.md'));
  const e = vembed(['export', 'onnx', '--model', model, '--out', path.join(dir, 'dir.onnx')]);
  assert.equal(e.code, 1);
  assert.match(e.stderr, /--out \S*dir\.onnx is a folder/);
  assert.doesNotMatch(e.stderr, /\.tmp-/);
  const report = path.join(benchB, 'sop_report.json');
  const c = vembed(['benchmark', 'compare', report, report, '--markdown', path.join(dir, 'table.md')]);
  assert.equal(c.code, 1);
  assert.match(c.stderr, /--markdown \S*table\.md is a folder/);
  assert.doesNotMatch(c.stderr, /\.tmp-/);
  assert.deepEqual(filesOf(dir), ['dir.onnx', 'table.md']);

  // What kill -9 leaves: a temporary of a process that is gone; one of a live process (this one) stays.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const stale = path.join(dir, `.m.onnx.tmp-${dead.stdout}-abc123`);
  const live = path.join(dir, `.m.onnx.tmp-${process.pid}-def456`);
  const staleData = path.join(dir, `.m.onnx.0123abcd.data.tmp-${dead.stdout}-ghi789`);
  fs.writeFileSync(stale, Buffer.alloc(1 << 20));
  fs.writeFileSync(staleData, Buffer.alloc(1 << 20));
  fs.writeFileSync(live, 'busy');
  const ok = vembed(['export', 'onnx', '--model', model, '--out', path.join(dir, 'm.onnx')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(filesOf(dir), [path.basename(live), 'dir.onnx', 'm.onnx', 'table.md'].sort());
});

// ---- 12. smaller ones

test('12a. a full disk during export names the file', (t) => {
  const dir = path.join(work, 'full');
  fs.mkdirSync(dir);
  const r = vembedMounted(dir, 'mount -t tmpfs -o size=64k none "$1"', [
    'export',
    'onnx',
    '--model',
    model,
    '--out',
    path.join(dir, 'm.onnx'),
  ]);
  if (!r) return t.skip('no user namespaces here (unshare -rm)');
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`no space left on the device holding ${dir}/m\\.onnx`));
  assert.doesNotMatch(r.stderr, /unknown path/);
});

test('12b-c. VEMBED_BACKEND and --threads are named as given', () => {
  const image = path.join(work, 'data', 'p0_v0.png');
  const a = vembed(['embed', '--model', model, '--out', 'x.npy', image], { env: { VEMBED_BACKEND: 'bogus' } });
  assert.equal(a.code, 2);
  assert.match(a.stderr, /VEMBED_BACKEND=bogus: expected auto/);
  assert.doesNotMatch(a.stderr, /--backend bogus/);
  const b = vembed(['embed', '--model', model, '--out', 'x.npy', image, '--threads', '0']);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /--threads 0: expected auto or a whole number/);
});

test('12d-e. compare: damaged neighbours and damaged metadata both print the table; a stale analysis goes', () => {
  const copy = (tag: string) => {
    const dir = path.join(work, tag);
    fs.cpSync(benchB, dir, { recursive: true });
    return dir;
  };
  const truncated = copy('bench-trunc-neighbours');
  const manifest = path.join(truncated, 'neighbours.json');
  const text = fs.readFileSync(manifest, 'utf8');
  fs.writeFileSync(manifest, text.slice(0, Math.floor(text.length / 2)));
  const badMeta = copy('bench-bad-metadata');
  fs.writeFileSync(path.join(badMeta, 'metadata.jsonl'), '{"path": "a.png"}\n{not json\n');
  for (const dir of [truncated, badMeta]) {
    const r = vembed(['benchmark', 'compare', path.join(benchA, 'sop_report.json'), path.join(dir, 'sop_report.json')]);
    assert.equal(r.code, 0, `${dir}: ${r.stderr}`);
    assert.match(r.stdout, /Recall@1 /, `${dir}: the table is printed`);
    assert.match(r.stdout + r.stderr, /no error analysis: /, dir);
  }

  // Two benchmarks of different image sets: an analysis left beside AFTER from an earlier comparison is removed.
  const after = path.join(benchB, 'sop_report.json');
  const first = vembed(['benchmark', 'compare', path.join(benchA, 'sop_report.json'), after]);
  assert.equal(first.code, 0, first.stderr);
  assert.ok(fs.existsSync(path.join(benchB, 'error_analysis.json')));
  const other = path.join(work, 'bench-other');
  const lists = path.join(work, 'other_test.txt');
  fs.writeFileSync(
    lists,
    fs.readFileSync(path.join(sop, 'Ebay_test.txt'), 'utf8').trim().split('\n').slice(0, 4).join('\n') + '\n',
  );
  assert.equal(benchmark(other, ['--list', lists]).code, 0);
  const second = vembed(['benchmark', 'compare', path.join(other, 'sop_report.json'), after]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /no error analysis: the benchmarks cover different image sets/);
  assert.equal(fs.existsSync(path.join(benchB, 'error_analysis.json')), false, 'the earlier analysis is gone');
});

/** CRC-32 of PNG chunks (type and data). */
function crc32(bytes: Buffer): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

test('12f-g. a folder given as an image, and an image over the pixel limit, are said as such', () => {
  const folder = path.join(work, 'a-folder');
  fs.mkdirSync(folder);
  const a = vembed(['embed', '--model', model, '--out', 'f.npy', folder]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /a-folder: it is a folder, not an image file/);
  assert.doesNotMatch(a.stderr, /unsupported image format/);
  // Only a header: 20000 x 20000 pixels, 400 megapixels.
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(20000, 0);
  ihdr.writeUInt32BE(20000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const big = path.join(work, 'big.png');
  fs.writeFileSync(
    big,
    Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      pngChunk('IHDR', ihdr),
      pngChunk('IDAT', Buffer.alloc(0)),
      pngChunk('IEND', Buffer.alloc(0)),
    ]),
  );
  const b = vembed(['embed', '--model', model, '--out', 'b.npy', big]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /100 megapixel limit \(width x height at most 100,000,000 pixels\)/);
});

test('12h. random bytes of a bad list file are escaped, not sent to the terminal', () => {
  const list = path.join(work, 'garbage_test.txt');
  fs.writeFileSync(list, Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x07, 0x41, 0x0a, 0x9b, 0x32, 0x4a, 0x00, 0x0a]));
  const r = vembed(['benchmark', 'sop', '--model_path', model, '--sop_root', sop, '--list', list]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /garbage_test\.txt/);
  assert.match(r.stderr, /\\x1b\[31m\\x07A/);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(r.stderr, /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control characters');
});

test('12i. a GPU provider that does not load gives vembed message only, without coloured ONNX Runtime lines', (t) => {
  const r = vembed([
    'embed',
    '--model',
    model,
    '--out',
    'cuda.npy',
    path.join(work, 'data', 'p0_v0.png'),
    '--backend',
    'onnx-cuda',
  ]);
  if (r.code === 0) return t.skip('CUDA works here');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /ONNX Runtime \(onnx-cuda\)|onnx-cuda/);
  assert.ok(!r.stderr.includes('\u001b['), 'no terminal colour codes');
  assert.doesNotMatch(r.stderr, /\[E:onnxruntime/, 'no raw ONNX Runtime log line');
});

test('12j. the human-readable output of --resume latest says it resumed, and from where', () => {
  const dir = shared.runDir('resume-text', { val_data_path: null, max_steps: 1 });
  const first = vembed(['train', '--config', 'train_i2i.yaml'], { cwd: dir.dir, timeout: 120000 });
  assert.equal(first.code, 0, first.stdout.slice(-1500) + first.stderr);
  const again = vembed(['train', '--config', 'train_i2i.yaml', '--resume', 'latest', '--set', 'max_steps=2'], {
    cwd: dir.dir,
    timeout: 120000,
  });
  assert.equal(again.code, 0, again.stdout.slice(-1500) + again.stderr);
  assert.match(again.stdout, /^train: backend .*, resumed from \S*checkpoint-step-1/m);
});
