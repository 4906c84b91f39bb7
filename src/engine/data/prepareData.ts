/**
 * A user's own data (product folders or a CSV, read by folderLayout.ts /
 * csvLayout.ts) to `train.jsonl` and `val.jsonl` in prepare-sop's format:
 * products split between the two files (seeded; productSplit.ts), then each
 * file's images paired by the shared rule (productPairs.ts). Paths in the
 * files are relative to the image root.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../shared/fs/atomic';
import { UserError } from '../../shared/userError';
import { Rng } from '../util/rng';
import type { Label } from './pairDataset';
import { DataError, summariseProblems, type DataProblem } from './problems';
import type { LayoutRead, ListedImage } from './productLayout';
import { pairProductImages, pairsToJsonl } from './productPairs';
import { chooseValProducts, type ValSize } from './productSplit';

export interface PrepareDataOptions {
  layout: LayoutRead;
  /** Where train.jsonl and val.jsonl go (created if needed). */
  outDir: string;
  seed: number;
  val: ValSize;
  /** Leave listed images that are missing on disk out instead of stopping. */
  skipMissing?: boolean;
}

export interface DataSplitSummary {
  split: 'train' | 'val';
  output: string;
  images: number;
  products: number;
  /** Distinct super classes; 0 when the data has none. */
  superClasses: number;
  singleImageProducts: number;
}

export interface PreparedSplit {
  summary: DataSplitSummary;
  images: ListedImage[];
}

export interface PrepareDataResult {
  seed: number;
  source: string;
  imageRoot: string;
  outDir: string;
  train: PreparedSplit;
  val: PreparedSplit;
  /** What was prepared anyway but is worth knowing, each with its file and line (or folder). */
  warnings: DataProblem[];
}

function missingProblem(img: ListedImage, imageRoot: string): DataProblem {
  return {
    kind: 'missing-image',
    file: img.file,
    ...(img.line !== undefined ? { line: img.line } : {}),
    message: `${img.path} not found under ${imageRoot}`,
  };
}

function summarise(split: 'train' | 'val', output: string, images: readonly ListedImage[]): DataSplitSummary {
  const perProduct = new Map<Label, number>();
  for (const img of images) perProduct.set(img.product, (perProduct.get(img.product) ?? 0) + 1);
  return {
    split,
    output,
    images: images.length,
    products: perProduct.size,
    superClasses: new Set(images.flatMap((i) => (i.superLabel === null ? [] : [i.superLabel]))).size,
    singleImageProducts: [...perProduct.values()].filter((n) => n === 1).length,
  };
}

/** Single-image products of a split, named where their one image is listed. */
function singleImageWarnings(split: string, images: readonly ListedImage[]): DataProblem[] {
  const count = new Map<Label, number>();
  for (const img of images) count.set(img.product, (count.get(img.product) ?? 0) + 1);
  return images
    .filter((img) => count.get(img.product) === 1)
    .map((img) => ({
      kind: 'single-image-product' as const,
      file: img.file,
      ...(img.line !== undefined ? { line: img.line } : {}),
      message: `product ${JSON.stringify(img.product)} has a single image (${img.path}) in ${split}: paired with itself${split === 'val' ? ', and as a query it does not count' : ''}`,
    }));
}

/**
 * Check, split, pair and write. Every error is collected before anything is
 * written, so bad data leaves earlier outputs untouched.
 */
export function prepareData(options: PrepareDataOptions): PrepareDataResult {
  const { layout, seed } = options;
  const errors = [...layout.errors];
  const missing = layout.missing.map((m) => missingProblem(m, layout.imageRoot));
  if (!options.skipMissing) errors.push(...missing);
  // In file order, as an editor shows them.
  errors.sort((a, b) => (a.file === b.file ? (a.line ?? 0) - (b.line ?? 0) : a.file < b.file ? -1 : 1));
  if (errors.length > 0) {
    throw new DataError(
      `${layout.source}: ${errors.length} problem(s) to fix before the data can be prepared.\n${summariseProblems(errors)}`,
      errors,
      missing.length > 0 && !options.skipMissing
        ? 'Fix the listed lines; for missing images check --image_root (what the paths are relative to), or pass --skip_missing to leave them out.'
        : 'Fix the listed lines (or folders) and run again.',
    );
  }
  const gone = new Set(layout.missing);
  const images = layout.images.filter((i) => !gone.has(i));
  const products = [...new Set(images.map((i) => i.product))];
  const rng = new Rng(seed);
  // Separate streams: the split, the train pairing and the val pairing do not shift each other.
  const [splitRng, trainRng, valRng] = [rng.fork(), rng.fork(), rng.fork()];
  let valProducts: Set<Label>;
  try {
    valProducts = chooseValProducts(products, options.val, splitRng);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new UserError(
      `${layout.source}: cannot split ${products.length} product(s) (${images.length} image(s)): ${e.message}.`,
      'Each split needs at least one product; prepare-data splits by product, so that validation measures unseen products.',
    );
  }
  const val = images.filter((i) => valProducts.has(i.product));
  const train = images.filter((i) => !valProducts.has(i.product));

  fs.mkdirSync(options.outDir, { recursive: true });
  const outputs = {
    train: path.join(options.outDir, 'train.jsonl'),
    val: path.join(options.outDir, 'val.jsonl'),
  };
  const trainText = pairsToJsonl(pairProductImages(train, trainRng));
  const valText = pairsToJsonl(pairProductImages(val, valRng));
  writeFileAtomic(outputs.train, trainText);
  writeFileAtomic(outputs.val, valText);
  return {
    seed,
    source: layout.source,
    imageRoot: layout.imageRoot,
    outDir: options.outDir,
    train: { summary: summarise('train', outputs.train, train), images: train },
    val: { summary: summarise('val', outputs.val, val), images: val },
    warnings: [
      ...layout.warnings,
      ...(options.skipMissing ? missing : []),
      ...singleImageWarnings('train', train),
      ...singleImageWarnings('val', val),
    ],
  };
}

/** The summary a user reads after preparation. */
export function formatPrepareDataSummary(r: PrepareDataResult): string {
  const rows = [r.train.summary, r.val.summary].map(
    (s) =>
      `  ${s.split.padEnd(5)} -> ${s.output}: ${s.images} images, ${s.products} products` +
      (s.superClasses ? `, ${s.superClasses} super classes` : '') +
      (s.singleImageProducts ? `, ${s.singleImageProducts} single-image product(s) paired with themselves` : ''),
  );
  const lines = [`Prepared pairs from ${r.source} (split by product, seed ${r.seed}):`, ...rows];
  if (r.warnings.length > 0) lines.push(`Warnings: ${summariseProblems(r.warnings)}`);
  if (path.resolve(r.outDir) !== path.resolve(r.imageRoot))
    lines.push(
      `Image paths in the files are relative to ${r.imageRoot}: set \`image_root: ${r.imageRoot}\` in the training config.`,
    );
  return lines.join('\n');
}
