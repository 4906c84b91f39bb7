// What `vembed export onnx --precision` costs and gains, on the sample set (data/sample-sop):
// for each precision the model is exported, `vembed benchmark sop --onnx FILE` embeds the sample's
// test split with the exported file (ONNX Runtime CPU, the model's preprocessing) and reports
// Recall@K / MAP@R; printed beside the file size, the cosine of each image's embedding to fp32's
// (from the benchmarks' embeddings.npy), and images/s of the file in onnxruntime-node on a batch of
// the test images (the precisions interleaved, best of rounds, so a loaded machine hurts each alike).
// Usage: npx tsx scripts/bench/export-precision.ts MODEL_DIR [--threads N] [--rounds N]
// (e.g. the demo's fine-tuned checkpoint: runs/demo/checkpoint-epoch-5)
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readNpy } from '../../src/shared/artifacts/npy';
import { PRECISIONS } from '../../src/engine/onnx/precision';
import { rowCosines } from '../../src/engine/retrieval/embeddings';
import { requireOnnxRuntime } from '../../src/engine/onnx/runtime';

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin', 'vembed.js');
const sop = path.join(root, 'data/sample-sop');
const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const model = args.find((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (!model) {
  console.error('usage: npx tsx scripts/bench/export-precision.ts MODEL_DIR [--threads N] [--rounds N]');
  process.exit(2);
}
const threads = flag('threads', os.availableParallelism());
const rounds = flag('rounds', 5);

function vembed(argv: string[]): void {
  const r = spawnSync(process.execPath, [bin, ...argv], { cwd: root, encoding: 'utf8', timeout: 1_800_000 });
  if (r.status !== 0) throw new Error(`vembed ${argv.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
}

function cosineStats(a: Float32Array, b: Float32Array, d: number): { min: number; mean: number } {
  const c = rowCosines(a, b, d);
  return { min: Math.min(...c), mean: c.reduce((x, y) => x + y, 0) / c.length };
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-export-precision-'));
  try {
    const rows: Array<{
      precision: string;
      bytes: number;
      report: Record<string, number>;
      embeddings: Float32Array;
      d: number;
    }> = [];
    for (const p of PRECISIONS) {
      const file = path.join(work, `${p}.onnx`);
      vembed(['export', 'onnx', '--model', model!, '--out', file, '--precision', p]);
      const out = path.join(work, `bench-${p}`);
      vembed([
        'benchmark',
        'sop',
        '--model_path',
        model!,
        '--onnx',
        file,
        '--sop_root',
        sop,
        '--output_dir',
        out,
        '--threads',
        String(threads),
      ]);
      const report = JSON.parse(fs.readFileSync(path.join(out, 'sop_report.json'), 'utf8')) as Record<string, number>;
      const e = readNpy(path.join(out, 'embeddings.npy'));
      rows.push({
        precision: p,
        bytes: fs.statSync(file).size,
        report,
        embeddings: e.data as Float32Array,
        d: e.shape[1]!,
      });
    }

    // Throughput: one batch of 32 random-normalised inputs at the model's size (the benchmark's own
    // timing includes decoding), each file in turn per round, the best round kept.
    const ort = requireOnnxRuntime();
    const sessions = await Promise.all(
      PRECISIONS.map((p) =>
        ort.InferenceSession.create(path.join(work, `${p}.onnx`), {
          executionProviders: ['cpu'],
          intraOpNumThreads: threads,
          graphOptimizationLevel: 'all',
        }),
      ),
    );
    const dims = (sessions[0]!.inputMetadata[0] as { shape: readonly (number | string)[] }).shape;
    const size = Number(dims[2]);
    const batch = 32;
    const x = Float32Array.from({ length: batch * 3 * size * size }, (_, i) => Math.sin(i * 0.37) * 1.5);
    const feed = { pixel_values: new ort.Tensor('float32', x, [batch, 3, size, size]) };
    const best = PRECISIONS.map(() => Infinity);
    for (const s of sessions) await s.run(feed); // warm-up
    for (let r = 0; r < rounds; r++)
      for (let i = 0; i < sessions.length; i++) {
        const t = performance.now();
        await sessions[i]!.run(feed);
        best[i] = Math.min(best[i]!, (performance.now() - t) / 1000);
      }
    await Promise.all(sessions.map((s) => s.release()));

    const fp32 = rows[0]!;
    const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
    console.log(
      `model ${model}, sample test split (${fp32.embeddings.length / fp32.d} images), ${size} px, ONNX Runtime CPU, ${threads} thread(s)`,
    );
    console.log(
      'precision  file MB  vs fp32  Recall@1  ΔR@1 (pts)  Recall@10  MAP@R   min cos  mean cos  images/s  vs fp32',
    );
    rows.forEach((r, i) => {
      const c = cosineStats(fp32.embeddings, r.embeddings, r.d);
      const ips = batch / best[i]!;
      const ips32 = batch / best[0]!;
      console.log(
        [
          r.precision.padEnd(9),
          (r.bytes / 1e6).toFixed(2).padStart(7),
          `${(r.bytes / fp32.bytes).toFixed(2)}x`.padStart(7),
          pct(r.report['recall@1']!).padStart(8),
          ((r.report['recall@1']! - fp32.report['recall@1']!) * 100).toFixed(2).padStart(10),
          pct(r.report['recall@10']!).padStart(9),
          pct(r.report['map@r']!).padStart(6),
          c.min.toFixed(5).padStart(8),
          c.mean.toFixed(5).padStart(9),
          ips.toFixed(0).padStart(8),
          `${(ips / ips32).toFixed(2)}x`.padStart(7),
        ].join('  '),
      );
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
