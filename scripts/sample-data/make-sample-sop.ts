/**
 * Builds the sample data set in data/sample-sop: Stanford Online Products
 * layout (super-class folders, Ebay_train.txt, Ebay_test.txt, disjoint train
 * and test products) made from Debian's openclipart-svg drawings (public
 * domain). Each drawing is a "product", photographed in several views.
 *
 *   npx tsx scripts/sample-data/make-sample-sop.ts [--out DIR] [--source DIR] [--seed N]
 *
 * Deterministic: the same package, sharp version and seed give the same files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/engine/util/rng';
import { writeDirAtomic } from '../../src/shared/fs/atomic';
import { formatPrepareSummary, prepareSop } from '../../src/engine/data/prepareSop';
import {
  listSvgs,
  precheck,
  renderDrawing,
  sha1,
  thumbnail,
  thumbnailDistance,
  type Drawing,
  type Rejection,
} from './drawings';
import { JPEG_QUALITY, renderView } from './views';
import { readmeText } from './readme';

/** Openclipart folders used as super classes, in super-class id order. */
export const CATEGORIES = [
  'animals',
  'buildings',
  'computer',
  'education',
  'food',
  'office',
  'people',
  'plants',
  'recreation',
  'signs_and_symbols',
  'tools',
  'transportation',
] as const;
export const PRODUCTS_PER_CATEGORY = 24;
export const VIEWS_PER_PRODUCT = 5;
/** Thumbnails closer than this (mean absolute grey difference, 0..255) count as the same drawing. */
const DUPLICATE_DISTANCE = 6;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

interface Product {
  category: string;
  superClassId: number;
  drawing: Drawing;
  split: 'train' | 'test';
  classId: number;
}

async function pickDrawings(
  root: string,
  category: string,
  rng: Rng,
  seenHashes: Set<string>,
  seenThumbs: Uint8Array[],
) {
  const candidates = rng.shuffle(listSvgs(root, category));
  const picked: Drawing[] = [];
  const rejected = new Map<Rejection, number>();
  const reject = (r: Rejection) => rejected.set(r, (rejected.get(r) ?? 0) + 1);
  for (const rel of candidates) {
    if (picked.length === PRODUCTS_PER_CATEGORY) break;
    const early = precheck(root, rel);
    if (early) {
      reject(early);
      continue;
    }
    const hash = sha1(path.join(root, rel));
    if (seenHashes.has(hash)) {
      reject('duplicate');
      continue;
    }
    const d = await renderDrawing(root, rel);
    if (typeof d === 'string') {
      reject(d);
      continue;
    }
    const thumb = await thumbnail(d);
    if (seenThumbs.some((t) => thumbnailDistance(t, thumb) < DUPLICATE_DISTANCE)) {
      reject('duplicate');
      continue;
    }
    seenHashes.add(hash);
    seenThumbs.push(thumb);
    picked.push(d);
  }
  if (picked.length < PRODUCTS_PER_CATEGORY)
    throw new Error(`${category}: only ${picked.length} usable drawings of ${candidates.length}`);
  return { picked, rejected, examined: candidates.indexOf(picked.at(-1)!.source) + 1 };
}

async function main() {
  const out = path.resolve(arg('out', path.join(__dirname, '../../data/sample-sop')));
  const root = path.resolve(arg('source', '/usr/share/openclipart/svg'));
  const seed = Number(arg('seed', '2024'));
  if (!fs.existsSync(root))
    throw new Error(`${root} not found: install Debian's openclipart-svg package (apt-get install openclipart-svg)`);
  const started = Date.now();
  const rng = new Rng(seed);

  // Choose the drawings, category by category (fixed order, one RNG stream each).
  const products: Product[] = [];
  const seenHashes = new Set<string>();
  const seenThumbs: Uint8Array[] = [];
  const categoryRngs = CATEGORIES.map(() => rng.fork());
  for (const [i, category] of CATEGORIES.entries()) {
    const { picked, rejected, examined } = await pickDrawings(root, category, categoryRngs[i]!, seenHashes, seenThumbs);
    const why = [...rejected].map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(`${category}: ${picked.length} drawings from ${examined} examined${why ? ` (skipped: ${why})` : ''}`);
    // Half of each category's products for training, the other half for testing: disjoint products, as in SOP.
    picked.forEach((drawing, j) =>
      products.push({
        category,
        superClassId: i + 1,
        drawing,
        split: j < PRODUCTS_PER_CATEGORY / 2 ? 'train' : 'test',
        classId: 0,
      }),
    );
  }
  // Class ids: all training products first, then the test products (SOP numbers them the same way).
  let nextClass = 1;
  for (const split of ['train', 'test'] as const)
    for (const p of products.filter((x) => x.split === split)) p.classId = nextClass++;

  // Views are rendered (asynchronously) into a staging folder next to `out`,
  // which then replaces `out` in one rename.
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const staging = fs.mkdtempSync(path.join(path.dirname(out), '.sample-sop-'));
  try {
    const lists: Record<'train' | 'test', string[]> = { train: [], test: [] };
    let imageId = 1;
    const viewRngs = products.map(() => rng.fork());
    for (const split of ['train', 'test'] as const) {
      for (const p of products.filter((x) => x.split === split)) {
        const folder = `${p.category}_final`;
        fs.mkdirSync(path.join(staging, folder), { recursive: true });
        const vr = viewRngs[products.indexOf(p)]!;
        for (let v = 0; v < VIEWS_PER_PRODUCT; v++) {
          const rel = `${folder}/${p.classId}_${v}.jpg`;
          fs.writeFileSync(path.join(staging, rel), await renderView(p.drawing, vr.fork()));
          lists[split].push(`${imageId++} ${p.classId} ${p.superClassId} ${rel}`);
        }
      }
    }
    const header = 'image_id class_id super_class_id path';
    fs.writeFileSync(path.join(staging, 'Ebay_train.txt'), [header, ...lists.train].join('\n') + '\n');
    fs.writeFileSync(path.join(staging, 'Ebay_test.txt'), [header, ...lists.test].join('\n') + '\n');
    fs.writeFileSync(
      path.join(staging, 'SOURCES.tsv'),
      ['class_id\tsplit\tsuper_class\tsource']
        .concat(
          products.map((p) => `${p.classId}\t${p.split}\t${p.category}_final\topenclipart-svg/${p.drawing.source}`),
        )
        .join('\n') + '\n',
    );
    const bytes = dirBytes(staging);
    fs.writeFileSync(
      path.join(staging, 'README.md'),
      readmeText({
        categories: CATEGORIES,
        productsPerCategory: PRODUCTS_PER_CATEGORY,
        viewsPerProduct: VIEWS_PER_PRODUCT,
        seed,
        jpegQuality: JPEG_QUALITY,
        totalImages: imageId - 1,
        megabytes: bytes / 1e6,
      }),
    );
    const summary = prepareSop({ sopRoot: staging });
    writeDirAtomic(out, (tmp) => {
      // writeDirAtomic's fill is synchronous: the finished staging folder becomes its temporary folder.
      fs.rmSync(tmp, { recursive: true, force: true });
      fs.renameSync(staging, tmp);
    });
    console.log(
      formatPrepareSummary(summary).replace(new RegExp(staging.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), out),
    );
    console.log(
      `wrote ${imageId - 1} images (${(dirBytes(out) / 1e6).toFixed(1)} MB) to ${out} in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return n;
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exitCode = 1;
});
