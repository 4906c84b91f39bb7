/**
 * Whole-command time of `vembed embed` as a user runs it (start-up, model
 * load, image decoding, embedding, writing), in a process of its own: a
 * random DINOv2-small at 224 px saved as a model folder, --images images of
 * the sample set, with --backend (default onnx). With --python, the same
 * model and images through transformers (torch_command.py) as the peer, run
 * right after, with the largest difference between the two outputs.
 *
 *   npx tsx scripts/bench/command.ts [--images 96] [--backend onnx] [--threads auto] [--python PY --torch_threads N]
 *
 * Prints one JSON line: { backend, device, images, seconds, peer?: { seconds, maxAbsDiff } }.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../src/engine/backend/ladder';
import { randomDinov2Encoder } from '../../src/engine/model/random';
import { saveFullModel } from '../../src/engine/model/save';
import { parseEventLine } from '../../src/shared/protocol';
import { readSopList } from '../../src/engine/data/sopList';
import { readNpy } from '../../src/shared/artifacts/npy';
import { flagNumber, flagString } from './flags';

const ROOT = path.resolve(__dirname, '..', '..');

function sampleImages(count: number): string[] {
  const base = path.join(ROOT, 'data', 'sample-sop');
  const all = readSopList(path.join(base, 'Ebay_test.txt')).map((image) => path.join(base, image.path));
  if (all.length < count) throw new Error(`the sample set has ${all.length} test images, fewer than --images ${count}`);
  return all.slice(0, count);
}

async function main(): Promise<void> {
  const count = flagNumber('images', 96);
  const backend = flagString('backend', 'onnx');
  const threads = flagString('threads', 'auto');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-bench-command-'));
  try {
    await activateBackend('wasm');
    const encoder = randomDinov2Encoder({}, { seed: 1 });
    saveFullModel(encoder, path.join(dir, 'model'));
    encoder.dispose();
    const list = path.join(dir, 'images.txt');
    fs.writeFileSync(list, sampleImages(count).join('\n') + '\n');
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'bin', 'vembed.js'),
        'embed',
        '--model',
        path.join(dir, 'model'),
        '--out',
        path.join(dir, 'e.npy'),
        '--list',
        list,
        '--backend',
        backend,
        '--threads',
        threads,
        '--json',
      ],
      {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      },
    );
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0)
      throw new Error(`vembed embed failed (${r.status}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
    const started = r.stdout
      .split('\n')
      .map(parseEventLine)
      .flatMap((p) => (p.kind === 'event' && p.event.type === 'run_started' ? [p.event] : []))[0];
    const python = flagString('python', '');
    const peer = python ? torchCommand(python, dir, list, flagString('torch_threads', '2')) : undefined;
    console.log(
      JSON.stringify({
        backend: started?.backend ?? backend,
        device: started?.device ?? '',
        images: count,
        seconds,
        ...(peer ? { peer } : {}),
      }),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The transformers peer on the same model and list: its whole-process time, and how far its rows are from vembed's. */
function torchCommand(
  python: string,
  dir: string,
  list: string,
  threads: string,
): { seconds: number; maxAbsDiff: number } {
  const out = path.join(dir, 'torch.npy');
  const env = { ...process.env, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads };
  const t0 = performance.now();
  const r = spawnSync(
    python,
    [
      path.join(ROOT, 'scripts', 'bench', 'torch_command.py'),
      '--model',
      path.join(dir, 'model'),
      '--list',
      list,
      '--out',
      out,
    ],
    { encoding: 'utf8', env, maxBuffer: 64 << 20 },
  );
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0)
    throw new Error(`torch_command.py failed (${r.status}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  const ours = readNpy(path.join(dir, 'e.npy')).data as Float32Array;
  const theirs = readNpy(out).data as Float32Array;
  if (ours.length !== theirs.length)
    throw new Error(`vembed wrote ${ours.length} values, transformers ${theirs.length}`);
  let maxAbsDiff = 0;
  for (let i = 0; i < ours.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(ours[i]! - theirs[i]!));
  return { seconds, maxAbsDiff };
}

main().catch((e: unknown) => {
  console.error((e as Error).stack ?? String(e));
  process.exitCode = 1;
});
