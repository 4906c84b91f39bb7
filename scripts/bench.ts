/**
 * `npm run bench`: speed and memory of vembed's model on this machine, next
 * to PyTorch's on the same model shape, batch and protocol.
 *
 *   npx tsx scripts/bench.ts [--quick] [--no-torch] [--no-search]
 *                            [--only embed,onnx,command,lora,full,lora-onnx,full-onnx,lora-torch,full-torch,
 *                                    demo,search,ceiling]
 *                            [--embed-batch 32] [--batches N] [--train-batch 128] [--chunk 8] [--steps 1]
 *                            [--demo-steps 10]
 *                            [--warmup-batch N] [--threads auto|N] [--torch-threads N] [--json FILE]
 *
 * For DINOv2-small geometry at 224 px with random weights, it measures
 *   - embedding throughput (images/s), batches of --embed-batch, on TF.js
 *     wasm and on ONNX Runtime's CPU provider (onnx), and from the latter the
 *     estimated time of the whole SOP protocol (60,502 images, then the
 *     measured search);
 *   - the whole-command time of `vembed embed` on 96 sample images (command);
 *   - training throughput (images/s: two per pair) with LoRA and with full
 *     fine-tuning, one step of --train-batch pairs with the gradient cache
 *     (--chunk images per forward pass), after an untimed warm-up step of
 *     2 x --chunk pairs for small steps (none for steps of 64 pairs or more,
 *     where one-off costs are a small share);
 *   - the same training steps with the gradients on ONNX Runtime's CPU
 *     provider (lora-onnx, full-onnx: src/engine/onnx/trainer.ts), with where
 *     their time goes (graph runs, loss, optimizer, data loading, the rest);
 *   - the demo's training step (demo): examples/demo_i2i.yaml's model
 *     (models/vembed-tiny, 1.9 M parameters, 84 px), batch and chunk, every
 *     weight trained, --demo-steps steps after an untimed one, on ONNX
 *     Runtime's CPU provider, against transformers' Dinov2Model loaded from
 *     the same folder doing the same steps, with the gradient cache (as
 *     configured) and without it (the whole batch in one pass);
 *   - the same training steps on vembed's PyTorch engine (lora-torch,
 *     full-torch: scripts/bench/torch_engine.py drives python/vembed_torch's
 *     own step on the CPU, float32, --torch-threads threads), beside the ONNX
 *     Runtime engine's rate;
 *   - the peak memory of each: process RSS (all threads), and for TF.js the
 *     wasm heap of every thread (each heap only grows, so its size is its peak);
 *   - the full SOP protocol search at SOP size (60,502 x 384);
 *   - the compute ceiling (ceiling): how fast ONNX Runtime multiplies
 *     float32 matrices of the model's product shapes here, and the most
 *     images/s embedding and training can reach at that rate.
 * Each measurement runs in a process of its own, so each peak is its own.
 * scripts/bench/torch_peer.py measures the same with PyTorch
 * (--torch-threads, default OMP_NUM_THREADS or 2) in the environment of
 * scripts/python/setup.sh (torch 2.13, transformers 5.18, peft 0.21; made on
 * first use): transformers' own Dinov2Model (peft for LoRA), which the ratios
 * compare with, and the hand-written model of the earlier peer as a second
 * column.
 *
 * --quick: 2 embedding batches and a 16-pair training step (the gradient cache
 * makes time per image and memory independent of the batch size, so it
 * measures the same rates, with more noise): about 10 minutes on 2 cores. A
 * full run (batch 128) takes about 20 minutes there.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CeilingResult } from './bench/ceiling';
import { flagNumber, flagSet, flagString } from './bench/flags';
import type { OursResult } from './bench/ours';
import type { SearchResult } from './bench/search';
import { demoWorkload } from './bench/workload';

/** scripts/bench/command.ts's result. */
interface CommandResult {
  backend: string;
  device: string;
  images: number;
  seconds: number;
  /** transformers on PyTorch doing the same (torch_command.py), when torch is there. */
  peer?: { seconds: number; maxAbsDiff: number };
}

/** Stanford Online Products' test split: the images a zero-shot benchmark embeds. */
const SOP_TEST_IMAGES = 60_502;

const ROOT = path.resolve(__dirname, '..');
const SETUP = path.join(ROOT, 'scripts', 'python', 'setup.sh');
let PYTHON = '';
/** The peer models of torch_peer.py: `hf` (transformers + peft; the ratios) and `handwritten`. */
type PeerModel = 'hf' | 'handwritten';
const GB = 1e9;

interface TorchResult {
  mode: string;
  torch: string;
  threads: number;
  images: number;
  seconds: number;
  images_per_s: number;
  peak_rss_bytes: number;
}

type Mode = 'embed' | 'lora' | 'full' | 'demo';

interface Settings {
  quick: boolean;
  /** Pairs of the untimed warm-up step; 0 for a large step, where one-off costs are a small share. */
  warmupBatch: number;
  torchThreads: string;
  embedBatch: number;
  batches: number;
  trainBatch: number;
  chunk: number;
  steps: number;
  /** Timed steps of the demo measurement. */
  demoSteps: number;
  threads: string;
  torch: boolean;
  only: Set<string>;
}

/** What --only can choose (all by default). */
const MEASUREMENTS = [
  'embed',
  'onnx',
  'command',
  'lora',
  'full',
  'lora-onnx',
  'full-onnx',
  'demo',
  'lora-torch',
  'full-torch',
  'search',
  'ceiling',
];

function settings(): Settings {
  const quick = flagSet('quick');
  const only = new Set(
    flagString('only', MEASUREMENTS.join(','))
      .split(',')
      .map((s) => s.trim()),
  );
  for (const o of only)
    if (!MEASUREMENTS.includes(o)) throw new Error(`--only takes ${MEASUREMENTS.join(', ')}, got "${o}"`);
  if (flagSet('no-search')) only.delete('search');
  const trainBatch = flagNumber('train-batch', quick ? 16 : 128);
  const chunk = flagNumber('chunk', 8);
  return {
    quick,
    warmupBatch: flagNumber('warmup-batch', trainBatch >= 64 ? 0 : 2 * chunk),
    torchThreads: flagString('torch-threads', process.env.OMP_NUM_THREADS ?? '2'),
    embedBatch: flagNumber('embed-batch', 32),
    batches: flagNumber('batches', quick ? 2 : 4),
    trainBatch,
    chunk,
    steps: flagNumber('steps', 1),
    demoSteps: flagNumber('demo-steps', 10),
    threads: flagString('threads', 'auto'),
    torch: !flagSet('no-torch'),
    only,
  };
}

/** Run a child to completion; its stderr shows through, its last stdout line is its JSON result. */
function runChild(command: string, args: string[], env: NodeJS.ProcessEnv, label: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      process.stderr.write(b);
    });
    child.on('error', (e) => reject(new Error(`${label}: ${e.message}`)));
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`${label} failed (exit code ${code}): ${(err.trim().split('\n').pop() ?? '').slice(0, 400)}`));
        return;
      }
      resolve(JSON.parse(last));
    });
  });
}

function ours(args: string[], label: string): Promise<unknown> {
  return runChild(
    process.execPath,
    ['--import', 'tsx', path.join('scripts', 'bench', ...args.slice(0, 1)), ...args.slice(1)],
    process.env,
    label,
  );
}

function torchAvailable(): { ok: true; version: string } | { ok: false; why: string } {
  // The reference environment: its set-up prints the python on its last line.
  const setup = spawnSync('bash', [SETUP], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 1_800_000,
  });
  if (setup.status !== 0)
    return { ok: false, why: `scripts/python/setup.sh failed (exit code ${setup.status}); see its output above` };
  PYTHON = setup.stdout.trim().split('\n').pop() ?? '';
  if (!fs.existsSync(PYTHON)) return { ok: false, why: `scripts/python/setup.sh named no python (${PYTHON})` };
  const r = spawnSync(
    PYTHON,
    [
      '-c',
      'import torch, transformers, peft; print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")',
    ],
    { encoding: 'utf8', timeout: 120000 },
  );
  if (r.status !== 0)
    return {
      ok: false,
      why: `${PYTHON} cannot import torch (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`,
    };
  return { ok: true, version: r.stdout.trim() };
}

/** The workload flags both sides take: embedding batches, or the training step's size. */
function workloadArgs(mode: Mode | 'lora-onnx' | 'full-onnx' | 'demo-onnx', s: Settings): string[] {
  if (mode === 'embed') return ['--batch', String(s.embedBatch), '--batches', String(s.batches)];
  // The demo's own batch, chunk and model (examples/demo_i2i.yaml) on both sides.
  if (mode === 'demo' || mode === 'demo-onnx') {
    const demo = demoWorkload(ROOT);
    return [
      '--train-batch',
      String(demo.batch),
      '--chunk',
      String(demo.chunk),
      '--steps',
      String(s.demoSteps),
      '--warmup-batch',
      String(demo.batch),
      ...(mode === 'demo' ? ['--model-path', demo.modelPath, '--size', String(demo.imageSize)] : []),
    ];
  }
  return [
    '--train-batch',
    String(s.trainBatch),
    '--chunk',
    String(s.chunk),
    '--steps',
    String(s.steps),
    '--warmup-batch',
    String(s.warmupBatch),
  ];
}

function torchPeer(mode: Mode, s: Settings, model: PeerModel, { cache = true } = {}): Promise<unknown> {
  const args = [
    path.join('scripts', 'bench', 'torch_peer.py'),
    '--mode',
    mode,
    '--model',
    model,
    ...workloadArgs(mode, s),
    ...(cache ? [] : ['--no-cache']),
  ];
  const env = {
    ...process.env,
    OMP_NUM_THREADS: s.torchThreads,
    OPENBLAS_NUM_THREADS: s.torchThreads,
    MKL_NUM_THREADS: s.torchThreads,
  };
  return runChild(PYTHON, args, env, `PyTorch ${model} ${mode}`);
}

/** scripts/bench/torch_engine.py's result for one mode (its rows are per mode and precision). */
interface TorchEngineResult {
  device: string;
  torch: string;
  results: { mode: string; precision: string; images_per_s: number; peak_memory_bytes: number; losses: number[] }[];
}

/** vembed's PyTorch engine (its own Stepper) doing the bench's training step on the CPU, float32. */
function torchEngine(mode: 'lora' | 'full', s: Settings): Promise<unknown> {
  const args = [
    path.join('scripts', 'bench', 'torch_engine.py'),
    '--device',
    'cpu',
    '--modes',
    mode,
    '--precisions',
    'no',
    '--batch',
    String(s.trainBatch),
    '--chunk',
    String(s.chunk),
    '--steps',
    String(s.steps),
    '--check-steps',
    '0',
  ];
  const env = {
    ...process.env,
    OMP_NUM_THREADS: s.torchThreads,
    OPENBLAS_NUM_THREADS: s.torchThreads,
    MKL_NUM_THREADS: s.torchThreads,
  };
  return runChild(PYTHON, args, env, `vembed torch engine ${mode}`);
}

function oursMode(mode: Mode | 'lora-onnx' | 'full-onnx' | 'demo-onnx', s: Settings): Promise<unknown> {
  const args = ['ours.ts', '--mode', mode, '--threads', s.threads, ...workloadArgs(mode, s)];
  return ours(args, `vembed ${mode}`);
}

// ---------------------------------------------------------------- formatting

const gb = (b: number): string => `${(b / GB).toFixed(2)} GB`;
const rate = (r: number): string => `${r.toFixed(2)} img/s`;

function pad(cells: string[], widths: number[]): string {
  return cells
    .map((c, i) => c.padEnd(widths[i]!))
    .join('  ')
    .trimEnd();
}

function verdict(ok: boolean): string {
  return ok ? 'met' : 'NOT met';
}

interface Row {
  what: string;
  ours: string;
  torch: string;
  /** The hand-written PyTorch model of the earlier peer. */
  hand: string;
  ratio: string;
  goal: string;
}

function table(rows: Row[]): string {
  const header = {
    what: '',
    ours: 'vembed (TF.js wasm)',
    torch: 'PyTorch (transformers)',
    hand: 'PyTorch (hand-written)',
    ratio: 'vembed/transformers',
    goal: 'goal',
  };
  const all = [header, ...rows];
  const widths = (['what', 'ours', 'torch', 'hand', 'ratio', 'goal'] as const).map((k) =>
    Math.max(...all.map((r) => r[k].length)),
  );
  return all.map((r) => pad([r.what, r.ours, r.torch, r.hand, r.ratio, r.goal], widths)).join('\n');
}

async function main(): Promise<void> {
  const s = settings();
  const started = performance.now();
  const loadBefore = os.loadavg()[0]!;
  const torch = s.torch ? torchAvailable() : ({ ok: false, why: 'skipped (--no-torch)' } as const);
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const tfjs = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/@tensorflow/tfjs-core/package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  console.error(`npm run bench${s.quick ? ' --quick' : ''}: measuring (each line below is one process)...`);

  const results: {
    ours: Partial<Record<Mode, OursResult>>;
    torch: Partial<Record<Mode, TorchResult>>;
    torchHand: Partial<Record<Mode, TorchResult>>;
    /** The demo's step in PyTorch without the gradient cache (the whole batch in one forward pass). */
    torchDemoPlain?: TorchResult;
    onnx?: OursResult;
    onnxTraining: Partial<Record<'lora' | 'full' | 'demo', OursResult>>;
    torchEngine: Partial<Record<'lora' | 'full', TorchEngineResult>>;
    command?: CommandResult;
    search?: SearchResult;
    ceiling?: CeilingResult;
    errors: string[];
  } = {
    ours: {},
    torch: {},
    torchHand: {},
    onnxTraining: {},
    torchEngine: {},
    errors: [],
  };
  const attempt = async <T>(label: string, run: () => Promise<unknown>, store: (r: T) => void): Promise<void> => {
    const t0 = performance.now();
    try {
      store((await run()) as T);
      console.error(`  ${label}: done in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    } catch (e) {
      results.errors.push((e as Error).message);
      console.error(`  ${label}: ${(e as Error).message}`);
    }
  };
  // Ours then PyTorch, mode by mode, so that both sides of a ratio see the machine in the same state.
  for (const mode of ['embed', 'lora', 'full'] as const) {
    if (!s.only.has(mode) && !s.only.has(`${mode}-onnx`) && !s.only.has(`${mode}-torch`)) continue;
    if (s.only.has(mode))
      await attempt<OursResult>(
        `vembed ${mode}`,
        () => oursMode(mode, s),
        (r) => (results.ours[mode] = r),
      );
    if (mode !== 'embed' && s.only.has(`${mode}-onnx`))
      await attempt<OursResult>(
        `vembed ${mode}, ONNX Runtime`,
        () => oursMode(`${mode}-onnx`, s),
        (r) => (results.onnxTraining[mode] = r),
      );
    // Right after the ONNX engine's step, so both engines' rates see the machine in the same state.
    if (mode !== 'embed' && s.only.has(`${mode}-torch`) && torch.ok)
      await attempt<TorchEngineResult>(
        `vembed ${mode}, torch engine`,
        () => torchEngine(mode, s),
        (r) => (results.torchEngine[mode] = r),
      );
    if (torch.ok && (s.only.has(mode) || s.only.has(`${mode}-onnx`))) {
      await attempt<TorchResult>(
        `PyTorch transformers ${mode}`,
        () => torchPeer(mode, s, 'hf'),
        (r) => (results.torch[mode] = r),
      );
      await attempt<TorchResult>(
        `PyTorch hand-written ${mode}`,
        () => torchPeer(mode, s, 'handwritten'),
        (r) => (results.torchHand[mode] = r),
      );
    }
    if (mode === 'embed' && s.only.has('onnx')) {
      const args = [
        'ours.ts',
        '--mode',
        'embed-onnx',
        '--threads',
        s.threads,
        '--batch',
        String(s.embedBatch),
        '--batches',
        String(s.batches),
      ];
      await attempt<OursResult>(
        'vembed embed, ONNX Runtime',
        () => ours(args, 'vembed embed-onnx'),
        (r) => (results.onnx = r),
      );
    }
  }
  if (s.only.has('demo')) {
    // The demo's step, ours then PyTorch's (transformers on the same model folder), back to back.
    await attempt<OursResult>(
      'vembed demo step, ONNX Runtime',
      () => oursMode('demo-onnx', s),
      (r) => (results.onnxTraining.demo = r),
    );
    if (torch.ok) {
      await attempt<TorchResult>(
        'PyTorch transformers demo step',
        () => torchPeer('demo', s, 'hf'),
        (r) => (results.torch.demo = r),
      );
      // The same step without the gradient cache: vembed's step is one session run when the batch fits
      // (onnx/trainer.ts, wholeStep), and PyTorch's own one-pass step is the fair peer of that.
      await attempt<TorchResult>(
        'PyTorch transformers demo step, no gradient cache',
        () => torchPeer('demo', s, 'hf', { cache: false }),
        (r) => (results.torchDemoPlain = r),
      );
    }
  }
  if (s.only.has('command')) {
    const peer = torch.ok ? ['--python', PYTHON, '--torch_threads', s.torchThreads] : [];
    await attempt<CommandResult>(
      'vembed embed, whole command',
      () => ours(['command.ts', '--images', '96', '--threads', s.threads, ...peer], 'vembed embed command'),
      (r) => (results.command = r),
    );
  }
  if (s.only.has('ceiling'))
    await attempt<CeilingResult>(
      'compute ceiling',
      () => ours(['ceiling.ts', '--threads', s.threads], 'ceiling'),
      (r) => (results.ceiling = r),
    );
  if (s.only.has('search'))
    await attempt<SearchResult>(
      'SOP-size search',
      () => ours(['search.ts', '--threads', s.threads], 'search'),
      (r) => (results.search = r),
    );
  const loadAfter = os.loadavg()[0]!;

  // ---- report
  const lines: string[] = [];
  lines.push(`$ npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`);
  lines.push(`DINOv2-small geometry (hidden 384, 12 layers, 6 heads, patch 14; random weights), 224 px`);
  lines.push(
    `machine: ${os.availableParallelism()} cores (${cpu.trim()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; TF.js ${tfjs} wasm`,
  );
  lines.push(
    `PyTorch: ${torch.ok ? `${torch.version}, ${s.torchThreads} thread(s) (OMP_NUM_THREADS; scripts/bench/torch_peer.py: transformers' Dinov2Model + peft, and the hand-written model)` : `not measured: ${torch.why}`}`,
  );
  lines.push(
    `load average (1 min): ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after; ${((performance.now() - started) / 60000).toFixed(1)} min in all`,
  );
  lines.push('');
  const rows: Row[] = [];
  const pair = (mode: Mode, what: string, goalRatio: number, goalText: string): void => {
    const o = results.ours[mode];
    const t = results.torch[mode];
    const h = results.torchHand[mode];
    if (!o && !t) return;
    const ratio = o && t ? o.imagesPerSecond / t.images_per_s : undefined;
    const lanes = o
      ? mode === 'embed'
        ? `${o.threads} worker${o.threads === 1 ? '' : 's'}`
        : `${o.threads} lane${o.threads === 1 ? '' : 's'}`
      : '';
    rows.push({
      what,
      ours: o ? `${rate(o.imagesPerSecond)} (${lanes})` : s.only.has(mode) ? 'failed' : 'not measured (--only)',
      torch: t ? rate(t.images_per_s) : '-',
      hand: h ? rate(h.images_per_s) : '-',
      ratio: ratio !== undefined ? ratio.toFixed(2) : '-',
      goal: ratio !== undefined ? `>= ${goalText}: ${verdict(ratio >= goalRatio)}` : `>= ${goalText}`,
    });
  };
  const trainWhat = `${s.trainBatch} pairs, chunk ${s.chunk}`;
  pair('embed', `embedding (batches of ${s.embedBatch})`, 1, 'PyTorch');
  pair('lora', `training LoRA r=16 (${trainWhat})`, 0.5, '0.5 x PyTorch');
  pair('full', `training full (${trainWhat})`, 0.5, '0.5 x PyTorch');
  const memory = (mode: Mode, what: string, limit?: number): void => {
    const o = results.ours[mode];
    const t = results.torch[mode];
    const h = results.torchHand[mode];
    if (!o && !t) return;
    const heaps = o ? o.wasmHeapBytes.map((b) => (b / GB).toFixed(2)).join(' + ') : '';
    rows.push({
      what: `  peak memory, ${what}`,
      ours: o ? `${gb(o.peakRssBytes)} RSS (wasm heaps ${heaps} GB)` : '-',
      torch: t ? `${gb(t.peak_rss_bytes)} RSS` : '-',
      hand: h ? `${gb(h.peak_rss_bytes)} RSS` : '-',
      ratio: o && t ? (o.peakRssBytes / t.peak_rss_bytes).toFixed(2) : '-',
      goal: limit !== undefined && o ? `< ${limit} GB: ${verdict(o.peakRssBytes < limit * GB)}` : '',
    });
  };
  const onnx = results.onnx;
  if (onnx) {
    const t = results.torch.embed;
    const ratio = t ? onnx.imagesPerSecond / t.images_per_s : undefined;
    rows.push({
      what: `embedding, ONNX Runtime CPU (batches of ${onnx.batch ?? s.embedBatch})`,
      ours: `${rate(onnx.imagesPerSecond)} (${onnx.threads} intra-op thread${onnx.threads === 1 ? '' : 's'})`,
      torch: t ? rate(t.images_per_s) : '-',
      hand: results.torchHand.embed ? rate(results.torchHand.embed.images_per_s) : '-',
      ratio: ratio !== undefined ? ratio.toFixed(2) : '-',
      goal: ratio !== undefined ? `>= 3 x PyTorch: ${verdict(ratio >= 3)}` : '>= 3 x PyTorch',
    });
  }
  memory('embed', 'embedding');
  if (onnx)
    rows.push({
      what: '  peak memory, ONNX Runtime embedding',
      ours: `${gb(onnx.peakRssBytes)} RSS`,
      torch: '-',
      hand: '-',
      ratio: '-',
      goal: `< 2 GB: ${verdict(onnx.peakRssBytes < 2 * GB)}`,
    });
  if (results.command) {
    const c = results.command;
    const p = c.peer;
    rows.push({
      what: `vembed embed, ${c.images} images, whole command (${c.backend})`,
      ours: `${c.seconds.toFixed(1)} s`,
      torch: p ? `${p.seconds.toFixed(1)} s (max diff ${p.maxAbsDiff.toExponential(1)})` : '-',
      hand: '-',
      ratio: p ? (p.seconds / c.seconds).toFixed(2) : '-',
      goal: p ? `faster than PyTorch: ${verdict(c.seconds < p.seconds)}` : 'faster than PyTorch',
    });
  }
  memory('lora', 'LoRA', 3);
  memory('full', 'full', 3);
  for (const mode of ['lora', 'full', 'demo'] as const) {
    const o = results.onnxTraining[mode];
    if (!o) continue;
    const t = results.torch[mode];
    const ratio = t ? o.imagesPerSecond / t.images_per_s : undefined;
    // The DINOv2-small steps aim at twice PyTorch's rate; the demo's tiny model at PyTorch's.
    const goal = mode === 'demo' ? { times: 1, text: '>= PyTorch' } : { times: 2, text: '>= 2 x PyTorch' };
    const what =
      mode === 'demo'
        ? `training the demo's model, ONNX Runtime CPU (${path.basename(demoWorkload(ROOT).modelPath)} ${o.size} px, ` +
          `full, ${o.trainBatch} pairs, chunk ${o.chunk}, ${o.steps} steps)`
        : `training ${mode === 'lora' ? 'LoRA r=16' : 'full'}, ONNX Runtime CPU (${trainWhat})`;
    rows.push({
      what,
      ours: `${rate(o.imagesPerSecond)} (${o.device})`,
      torch: t ? rate(t.images_per_s) : '-',
      hand: mode !== 'demo' && results.torchHand[mode] ? rate(results.torchHand[mode].images_per_s) : '-',
      ratio: ratio !== undefined ? ratio.toFixed(2) : '-',
      goal: ratio !== undefined ? `${goal.text}: ${verdict(ratio >= goal.times)}` : goal.text,
    });
    const plain = mode === 'demo' ? results.torchDemoPlain : undefined;
    if (plain) {
      const r = o.imagesPerSecond / plain.images_per_s;
      rows.push({
        what: `  the same, PyTorch without the gradient cache (the batch in one forward pass)`,
        ours: `${rate(o.imagesPerSecond)}`,
        torch: rate(plain.images_per_s),
        hand: '-',
        ratio: r.toFixed(2),
        goal: `>= PyTorch: ${verdict(r >= 1)}`,
      });
    }
    rows.push({
      what: `  peak memory, ONNX Runtime ${mode}`,
      ours: `${gb(o.peakRssBytes)} RSS`,
      torch: t ? `${gb(t.peak_rss_bytes)} RSS` : '-',
      hand: '-',
      ratio: t ? (o.peakRssBytes / t.peak_rss_bytes).toFixed(2) : '-',
      goal: `< 3 GB: ${verdict(o.peakRssBytes < 3 * GB)}`,
    });
    const b = o.breakdown;
    if (b) {
      const all = b.forward + b.backward + b.masks + b.loss + b.optimizer + b.data + b.other;
      const part = (v: number) => `${v.toFixed(1)} s (${((100 * v) / all).toFixed(0)}%)`;
      rows.push({
        what: `  where the time goes, ${mode}`,
        ours:
          (mode === 'demo' ? `${(o.seconds / (o.steps ?? 1)).toFixed(2)} s a step: ` : '') +
          // No embedding pass: the step was one session run of the whole-step graph (onnx/trainer.ts, wholeStep).
          (b.forward === 0
            ? `one run (embedding, loss, backward) ${part(b.backward)}, `
            : `embedding pass ${part(b.forward)}, backward pass ${part(b.backward)}, `) +
          `dropout masks ${part(b.masks)}, ` +
          `loss ${part(b.loss)}, optimizer ${part(b.optimizer)}, data ${part(b.data)}, other ${part(b.other)}; ` +
          `process CPU ${o.cpuSeconds.toFixed(0)} s in ${o.seconds.toFixed(0)} s`,
        torch: '',
        hand: '',
        ratio: '',
        goal: '',
      });
    }
  }
  for (const mode of ['lora', 'full'] as const) {
    const r = results.torchEngine[mode]?.results[0];
    if (!r) continue;
    const o = results.onnxTraining[mode];
    const t = results.torch[mode];
    rows.push({
      what: `training ${mode === 'lora' ? 'LoRA r=16' : 'full'}, torch engine on ${results.torchEngine[mode]!.device} (${trainWhat})`,
      ours: `${rate(r.images_per_s)} (python/vembed_torch; ONNX Runtime: ${o ? rate(o.imagesPerSecond) : '-'})`,
      torch: t ? rate(t.images_per_s) : '-',
      hand: '-',
      ratio: o ? `${(o.imagesPerSecond / r.images_per_s).toFixed(2)} ONNX/torch` : '-',
      goal: '',
    });
    rows.push({
      what: `  peak memory, torch engine ${mode}`,
      ours: `${gb(r.peak_memory_bytes)} RSS`,
      torch: t ? `${gb(t.peak_rss_bytes)} RSS` : '-',
      hand: '-',
      ratio: '',
      goal: '',
    });
  }
  if (results.search) {
    const r = results.search;
    rows.push({
      what: `SOP-size search (${r.n.toLocaleString('en-US')} x ${r.dim}, R@1..1000, MAP@R)`,
      ours: `${r.seconds.toFixed(1)} s (${r.threads} thread${r.threads === 1 ? '' : 's'}), ${gb(r.peakRssBytes)} RSS`,
      torch: '-',
      hand: '-',
      ratio: '-',
      goal: `< 60 s: ${verdict(r.seconds < 60)}`,
    });
  }
  if (onnx && results.search) {
    // Estimated, not run: SOP's test images at the measured ONNX Runtime rate, plus the measured search.
    const embedS = SOP_TEST_IMAGES / onnx.imagesPerSecond;
    const t = results.torch.embed;
    rows.push({
      what: `SOP protocol, estimated (${SOP_TEST_IMAGES.toLocaleString('en-US')} images + search)`,
      ours: `${((embedS + results.search.seconds) / 60).toFixed(0)} min (ONNX Runtime)`,
      torch: t ? `${((SOP_TEST_IMAGES / t.images_per_s + results.search.seconds) / 60).toFixed(0)} min` : '-',
      hand: '-',
      ratio: '-',
      goal: '',
    });
  }
  lines.push(table(rows));
  if (results.ceiling) {
    const c = results.ceiling;
    const products = c.products.map((p) => `${p.shape} ${p.gflops.toFixed(0)}`).join(', ');
    const peer = (mode: Mode, times: number) => {
      const t = results.torch[mode];
      return t ? `; ${times} x the PyTorch peer would be ${rate(times * t.images_per_s)}` : '';
    };
    lines.push('');
    lines.push(
      `compute ceiling (scripts/bench/ceiling.ts): float32 products on ONNX Runtime CPU, ${c.threads} threads, ` +
        `GFLOP/s: ${products}; the model's mix ${c.gflops.toFixed(0)} GFLOP/s, ${c.forwardGflop.toFixed(2)} GFLOP a forward pass`,
    );
    lines.push(`  at most: embedding ${rate(c.ceiling.embed)}${peer('embed', 3)}`);
    lines.push(
      `           training LoRA ${rate(c.ceiling.lora)} (${c.trainingForwards.lora} forward passes' products)${peer('lora', 2)}`,
    );
    lines.push(
      `           training full ${rate(c.ceiling.full)} (${c.trainingForwards.full} forward passes' products)${peer('full', 2)}`,
    );
  }
  lines.push('');
  lines.push(
    'training img/s counts both images of a pair; wasm heaps: main thread first, then each worker (a heap never shrinks: its size is its peak).',
  );
  const notes = [...Object.values(results.ours).flatMap((o) => o?.notes ?? []), ...results.errors];
  if (results.search?.threadNote) notes.push(`search: ${results.search.threadNote}`);
  for (const n of notes) lines.push(`note: ${n}`);
  console.log(lines.join('\n'));

  const jsonFile = flagString('json', '');
  if (jsonFile) {
    const file = path.resolve(jsonFile);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(
      tmp,
      JSON.stringify({ settings: { ...s, only: [...s.only] }, loadBefore, loadAfter, results }, null, 2) + '\n',
    );
    fs.renameSync(tmp, file);
  }
  if (results.errors.length > 0) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
