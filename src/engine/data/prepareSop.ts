/**
 * SOP preparation: `Ebay_train.txt` -> `train.jsonl`, `Ebay_test.txt` ->
 * `val.jsonl`. Each image becomes a query paired with another image of the
 * same product, drawn by a seeded RNG; a product with a single image pairs
 * with itself. The label is the product (class id); `super_label` its
 * category (super_class_id).
 *
 * Note: `val.jsonl` is SOP's *test* split (as in the Python tool and the
 * literature), so "validation" numbers are test numbers.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../util/rng';
import { writeFileAtomic } from '../../shared/fs/atomic';
import { findMissingImages, readSopList, type SopImage } from './sopList';
import { DataError, summariseProblems, type DataProblem } from './problems';
import { pairProductImages, pairsToJsonl } from './productPairs';

/** The default pairing seed: the same as the training config's default `seed`. */
export const DEFAULT_PREPARE_SEED = 42;

export interface SopPair {
  query_image: string;
  positive: string;
  label: number;
  /** SOP's super_class_id, so batches can group similar products (`group_by_super_label`). */
  super_label: number;
}

export interface PrepareSopOptions {
  sopRoot: string;
  seed?: number;
  /**
   * What to do with listed images that are not on disk. false (default): stop
   * and report them. true: leave them out of the pairs (a product left with no
   * image disappears) and report how many were left out.
   */
  skipMissing?: boolean;
}

export interface SplitSummary {
  split: 'train' | 'val';
  /** The list read, e.g. `Ebay_train.txt`. */
  source: string;
  /** The JSONL written. */
  output: string;
  images: number;
  products: number;
  superClasses: number;
  /** Products with a single image, paired with itself. */
  singleImageProducts: number;
  /** Listed images left out because they are missing (only with skipMissing). */
  missingSkipped: number;
}

export interface PrepareSopResult {
  seed: number;
  train: SplitSummary;
  val: SplitSummary;
}

const SPLITS = [
  { split: 'train', source: 'Ebay_train.txt', output: 'train.jsonl' },
  { split: 'val', source: 'Ebay_test.txt', output: 'val.jsonl' },
] as const;

/** SOP's images paired by the shared rule (productPairs.ts): product = class_id, super_label = super_class_id. */
export function pairSopImages(images: readonly SopImage[], rng: Rng): SopPair[] {
  return pairProductImages(
    images.map((img) => ({ path: img.path, product: img.classId, superLabel: img.superClassId })),
    rng,
  ) as SopPair[];
}

function missingProblems(listFile: string, missing: readonly SopImage[]): DataProblem[] {
  return missing.map((img) => ({
    kind: 'missing-image',
    file: listFile,
    line: img.line,
    message: `${img.path} not found`,
  }));
}

/**
 * Read both lists, pair, and write `train.jsonl` and `val.jsonl` into the SOP
 * root (atomically). Both lists are read and checked before either output is
 * written, so a failure leaves earlier outputs untouched.
 */
export function prepareSop(options: PrepareSopOptions): PrepareSopResult {
  const root = path.resolve(options.sopRoot);
  const seed = options.seed ?? DEFAULT_PREPARE_SEED;
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
    throw new DataError(
      `SOP root ${root} is not a folder.`,
      [{ kind: 'missing-file', file: root, message: 'not a folder' }],
      'Pass the folder that holds Ebay_train.txt and Ebay_test.txt (e.g. Stanford_Online_Products/).',
    );
  }
  const lists = SPLITS.map((s) => {
    const file = path.join(root, s.source);
    if (!fs.existsSync(file)) {
      throw new DataError(
        `${file} not found.`,
        [{ kind: 'missing-file', file, message: 'not found' }],
        `--sop_root must be the folder that holds ${SPLITS.map((x) => x.source).join(' and ')}.`,
      );
    }
    return { ...s, file, images: readSopList(file) };
  });

  const problems: DataProblem[] = [];
  const usable = lists.map((l) => {
    const missing = findMissingImages(root, l.images);
    problems.push(...missingProblems(l.file, missing));
    const gone = new Set(missing);
    return { ...l, missing: missing.length, images: missing.length ? l.images.filter((i) => !gone.has(i)) : l.images };
  });
  if (problems.length > 0 && !options.skipMissing) {
    throw new DataError(
      `${problems.length} listed image(s) are missing under ${root}.\n${summariseProblems(problems)}`,
      problems,
      "Check that --sop_root is the folder the lists' paths are relative to and that the download is complete; or pass --skip_missing to leave missing images out.",
    );
  }
  for (const l of usable) {
    if (l.images.length === 0)
      throw new DataError(`${l.file}: no listed image exists on disk.`, problems, 'Check --sop_root.');
  }

  // One stream per split, so the train pairs do not depend on the test list and vice versa.
  const base = new Rng(seed);
  const rngs = [base.fork(), base.fork()];
  const outputs = usable.map((l, i) => ({ l, text: pairsToJsonl(pairSopImages(l.images, rngs[i]!)) }));
  for (const { l, text } of outputs) writeFileAtomic(path.join(root, l.output), text);

  const summaries = usable.map((l): SplitSummary => {
    const perProduct = new Map<number, number>();
    for (const img of l.images) perProduct.set(img.classId, (perProduct.get(img.classId) ?? 0) + 1);
    return {
      split: l.split,
      source: l.file,
      output: path.join(root, l.output),
      images: l.images.length,
      products: perProduct.size,
      superClasses: new Set(l.images.map((i) => i.superClassId)).size,
      singleImageProducts: [...perProduct.values()].filter((n) => n === 1).length,
      missingSkipped: l.missing,
    };
  });
  return { seed, train: summaries[0]!, val: summaries[1]! };
}

/** The summary a user reads after preparation. */
export function formatPrepareSummary(r: PrepareSopResult): string {
  const rows = [r.train, r.val].map(
    (s) =>
      `  ${s.split.padEnd(5)} ${path.basename(s.source).padEnd(14)} -> ${path.basename(s.output).padEnd(11)} ${String(s.images).padStart(7)} images ${String(s.products).padStart(6)} products ${String(s.superClasses).padStart(3)} super classes` +
      (s.singleImageProducts ? `, ${s.singleImageProducts} single-image product(s) paired with themselves` : '') +
      (s.missingSkipped ? `, ${s.missingSkipped} missing image(s) left out` : ''),
  );
  return [
    `Prepared SOP pairs (seed ${r.seed}):`,
    ...rows,
    'Note: val.jsonl is made from SOP\'s TEST split (Ebay_test.txt), so "validation" Recall@K during training are test-set numbers.',
  ].join('\n');
}
