// Measures the cosine similarities behind `vembed check-data`'s near-duplicate threshold on the
// sample set (data/sample-sop):
//   - distinct products across splits: each test image's most similar training image (the splits
//     hold different products, so none of these is a duplicate);
//   - augmented views of one product: pairs of different views of the same test product (the
//     sample's views are the same drawing re-rendered: shifted, scaled, rotated, recoloured);
//   - planted copies: test images copied as they are, re-encoded as JPEG quality 50, resized to 75%,
//     and resized to 60% + re-encoded at quality 70, each against its original.
// Usage: npx tsx scripts/bench/near-duplicate-threshold.ts [MODEL_DIR ...] (default models/vembed-tiny)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { activateBackend } from '../../src/engine/backend/ladder';
import { loadImageEncoder } from '../../src/engine/model';
import { embedImages } from '../../src/engine/run/embed';
import { evalLoader } from '../../src/engine/cli/commands/modelOptions';
import { readSopList } from '../../src/engine/data/sopList';
import { l2NormalizeRows, type EmbeddingMatrix } from '../../src/engine/retrieval/embeddings';

function meanOf(ms: EmbeddingMatrix[]): Float32Array {
  const d = ms[0]!.d;
  const mean = new Float32Array(d);
  let n = 0;
  for (const m of ms) {
    for (let i = 0; i < m.n * d; i++) mean[i % d]! += m.data[i]!;
    n += m.n;
  }
  return mean.map((x) => x / n);
}

function subtract(m: EmbeddingMatrix, mean: Float32Array): EmbeddingMatrix {
  return { ...m, data: m.data.map((x, i) => x - mean[i % m.d]!) };
}

const root = path.resolve(__dirname, '../..');
const sop = path.join(root, 'data/sample-sop');
const models = process.argv.slice(2).length ? process.argv.slice(2) : [path.join(root, 'models/vembed-tiny')];

const COPIES = [
  { name: 'byte copy', make: (s: sharp.Sharp) => s },
  { name: 'JPEG q90', make: (s: sharp.Sharp) => s.jpeg({ quality: 90 }) },
  { name: 'JPEG q70', make: (s: sharp.Sharp) => s.jpeg({ quality: 70 }) },
  { name: 'JPEG q50', make: (s: sharp.Sharp) => s.jpeg({ quality: 50 }) },
  { name: 'resized 75%', make: (s: sharp.Sharp, w: number) => s.resize(Math.round(w * 0.75)).jpeg({ quality: 80 }) },
  {
    name: 'resized 60% + q70',
    make: (s: sharp.Sharp, w: number) => s.resize(Math.round(w * 0.6)).jpeg({ quality: 70 }),
  },
];

function quantiles(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1)))]!.toFixed(4);
  const above = (t: number) => `${((100 * s.filter((x) => x >= t).length) / s.length).toFixed(0)}%`;
  return `n=${s.length} min ${q(0)} p50 ${q(0.5)} p99 ${q(0.99)} p99.9 ${q(0.999)} max ${q(1)}; >= 0.98: ${above(0.98)}, >= 0.99: ${above(0.99)}`;
}

async function main() {
  await activateBackend('wasm');
  const train = readSopList(path.join(sop, 'Ebay_train.txt'));
  const test = readSopList(path.join(sop, 'Ebay_test.txt'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-nd-'));
  // Every 12th test image gets each kind of copy.
  const originals = test.filter((_, i) => i % 12 === 0);
  const copies: Array<{ kind: string; original: number; file: string }> = [];
  for (const img of originals) {
    const src = path.join(sop, img.path);
    const width = (await sharp(src).metadata()).width!;
    for (const [k, c] of COPIES.entries()) {
      const file = path.join(tmp, `${k}-${path.basename(img.path)}`);
      if (k === 0) fs.copyFileSync(src, file);
      else await c.make(sharp(src), width).toFile(file);
      copies.push({ kind: c.name, original: test.indexOf(img), file });
    }
  }
  for (const model of models) {
    const encoder = await loadImageEncoder(model, { imageSize: 84 });
    const loader = evalLoader(encoder.processing, 0);
    const raw = async (paths: string[]) => ({
      data: await embedImages(encoder, loader, paths, { batchSize: 64, threads: 0 }),
      n: paths.length,
      d: encoder.embeddingDim,
    });
    const rawTr = await raw(train.map((i) => path.join(sop, i.path)));
    const rawTe = await raw(test.map((i) => path.join(sop, i.path)));
    const rawCp = await raw(copies.map((c) => c.file));
    for (const centred of [false, true]) {
      // Centred: the mean of the checked (train + test) images' normalised embeddings is subtracted first.
      const mean = centred ? meanOf([l2NormalizeRows(rawTr), l2NormalizeRows(rawTe)]) : undefined;
      const prep = (m: EmbeddingMatrix) =>
        mean ? l2NormalizeRows(subtract(l2NormalizeRows(m), mean)) : l2NormalizeRows(m);
      const tr = prep(rawTr);
      const te = prep(rawTe);
      const cp = prep(rawCp);
      const d = encoder.embeddingDim;
      const cos = (a: Float32Array, i: number, b: Float32Array, j: number) => {
        let s = 0;
        for (let x = 0; x < d; x++) s += a[i * d + x]! * b[j * d + x]!;
        return s;
      };
      const crossSplitMax = test.map((_, q) => Math.max(...train.map((__, t) => cos(te.data, q, tr.data, t))));
      const sameProduct: number[] = [];
      for (let a = 0; a < test.length; a++)
        for (let b = a + 1; b < test.length; b++)
          if (test[a]!.classId === test[b]!.classId) sameProduct.push(cos(te.data, a, te.data, b));
      console.log(
        `\nmodel ${path.relative(root, model)} (image size 84, cosine of L2-normalised embeddings${centred ? ', centred' : ''})`,
      );
      console.log(`  distinct products, test -> nearest train image: ${quantiles(crossSplitMax)}`);
      console.log(`  augmented views of one product (test pairs):     ${quantiles(sameProduct)}`);
      for (const c of COPIES) {
        const xs = copies.flatMap((p, i) => (p.kind === c.name ? [cos(cp.data, i, te.data, p.original)] : []));
        console.log(`  planted ${c.name.padEnd(18)} vs its original:   ${quantiles(xs)}`);
      }
    }
    await loader.close();
    encoder.dispose();
  }
  fs.rmSync(tmp, { recursive: true, force: true });
}

void main();
