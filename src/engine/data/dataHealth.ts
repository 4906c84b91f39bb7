/**
 * Data health and train/test leakage, without a model: products with a single
 * image, one image file listed under two products (by path), and the same
 * file content under two products or in both splits (by SHA-256 of the
 * bytes). Near-duplicates that are not byte-identical (re-encoded, resized)
 * need embeddings: retrieval/nearDuplicates.ts adds them to the report.
 *
 * Nothing is changed: the check lists what it finds, counted, with the pairs.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import {
  hasLeakage,
  type DataHealthReport,
  type DuplicateGroup,
  type NearDuplicatePair,
  type SingleImageProduct,
  type Split,
} from '../../shared/artifacts/dataHealthFile';

export type { DataHealthReport, DuplicateGroup, NearDuplicatePair, SingleImageProduct, Split };
export { hasLeakage };

/** One listed image: where it is, which product (and split) the list puts it in. */
export interface HealthImage {
  /** Absolute path. */
  path: string;
  /** As the list wrote it (relative to its root), for the report. */
  shown: string;
  /** The product, as a string key (`1001`, `sku-7`). */
  product: string;
  split: Split;
}

function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const g = out.get(k);
    if (g) g.push(it);
    else out.set(k, [it]);
  }
  return out;
}

/** A group of listings of one file, when they disagree on product or split; else undefined. */
function duplicateGroup(listings: readonly HealthImage[]): DuplicateGroup | undefined {
  const crossProduct = new Set(listings.map((l) => l.product)).size > 1;
  const crossSplit = new Set(listings.map((l) => l.split)).size > 1;
  if (!crossProduct && !crossSplit) return undefined;
  const seen = new Set<string>();
  const unique = listings.filter((l) => {
    const k = `${l.shown}\0${l.product}\0${l.split}`;
    return seen.has(k) ? false : (seen.add(k), true);
  });
  return {
    listings: unique.map((l) => ({ image: l.shown, product: l.product, split: l.split })),
    crossProduct,
    crossSplit,
  };
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hash every distinct file, a few at a time (enough to keep the disk busy, few open files). */
async function hashAll(
  paths: readonly string[],
  onProgress?: (done: number, total: number) => void,
): Promise<{ hashes: Map<string, string>; unreadable: string[] }> {
  const hashes = new Map<string, string>();
  const unreadable: string[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < paths.length) {
      const p = paths[next++]!;
      try {
        hashes.set(p, await sha256(p));
      } catch {
        unreadable.push(p);
      }
      if (++done % 500 === 0 || done === paths.length) onProgress?.(done, paths.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, paths.length) }, worker));
  return { hashes, unreadable: unreadable.sort() };
}

/** The model-free checks. Products in a split are counted by their image listings. */
export async function checkDataHealth(
  images: readonly HealthImage[],
  onProgress?: (done: number, total: number) => void,
): Promise<DataHealthReport> {
  const bySplit = (s: Split) => images.filter((i) => i.split === s);
  const singleImageProducts: SingleImageProduct[] = [];
  for (const split of ['train', 'test'] as const) {
    // Distinct images per product: the same file listed twice is still one image.
    for (const [product, list] of groupBy(bySplit(split), (i) => i.product)) {
      const distinct = new Set(list.map((i) => i.path));
      if (distinct.size === 1) singleImageProducts.push({ split, product, image: list[0]!.shown });
    }
  }
  const samePath = [...groupBy(images, (i) => i.path).values()].flatMap((g) => duplicateGroup(g) ?? []);

  const distinctPaths = [...new Set(images.map((i) => i.path))];
  const { hashes, unreadable } = await hashAll(distinctPaths, onProgress);
  const sameContent: DuplicateGroup[] = [];
  for (const group of groupBy(
    images.filter((i) => hashes.has(i.path)),
    (i) => hashes.get(i.path)!,
  ).values()) {
    // Only different files with the same bytes: one path under two products is samePath's finding.
    if (new Set(group.map((i) => i.path)).size < 2) continue;
    const g = duplicateGroup(group);
    if (g) sameContent.push(g);
  }
  const trainProducts = new Set(bySplit('train').map((i) => i.product));
  const testProducts = new Set(bySplit('test').map((i) => i.product));
  return {
    images: {
      train: new Set(bySplit('train').map((i) => i.path)).size,
      test: new Set(bySplit('test').map((i) => i.path)).size,
    },
    products: { train: trainProducts.size, test: testProducts.size },
    singleImageProducts,
    samePath,
    sameContent,
    productsInBothSplits: [...trainProducts].filter((p) => testProducts.has(p)).sort(),
    unreadable,
  };
}

const EXAMPLES = 5;

function listingText(g: DuplicateGroup): string {
  return g.listings.map((l) => `${l.image} (${l.split}, product ${l.product})`).join(' = ');
}

/** The summary a user reads: counts first, then a few examples of each finding. */
export function formatDataHealth(r: DataHealthReport, reportFile?: string): string {
  const lines: string[] = [];
  const count = (n: number, what: string) => `${n} ${what}`;
  lines.push(
    `Data health: ${r.images.train} train images of ${r.products.train} products, ${r.images.test} test images of ${r.products.test} products.`,
  );
  const section = (title: string, n: number, examples: string[]) => {
    lines.push(`  ${title}: ${n}`);
    for (const e of examples.slice(0, EXAMPLES)) lines.push(`    ${e}`);
    if (examples.length > EXAMPLES) lines.push(`    ... and ${examples.length - EXAMPLES} more (see the report file)`);
  };
  const single = (s: Split) => r.singleImageProducts.filter((p) => p.split === s).length;
  section(
    `products with a single image (train ${single('train')}, test ${single('test')}; no in-class positive to learn from or to find)`,
    r.singleImageProducts.length,
    r.singleImageProducts.map((p) => `${p.split} product ${p.product}: ${p.image}`),
  );
  const leakPath = r.samePath.filter((g) => g.crossSplit);
  section('same file path in train AND test (leakage)', leakPath.length, leakPath.map(listingText));
  const leakContent = r.sameContent.filter((g) => g.crossSplit);
  section('identical file content in train AND test (leakage)', leakContent.length, leakContent.map(listingText));
  const twoProducts = [...r.samePath, ...r.sameContent].filter((g) => g.crossProduct && !g.crossSplit);
  section(
    'one image under two products of a split (same path or identical bytes)',
    twoProducts.length,
    twoProducts.map(listingText),
  );
  section(
    'products listed in both splits (leakage)',
    r.productsInBothSplits.length,
    r.productsInBothSplits.map((p) => `product ${p}`),
  );
  if (r.nearDuplicates) {
    const nd = r.nearDuplicates;
    section(
      `near-duplicate train/test pairs (cosine >= ${nd.threshold} with ${nd.model}; leakage)`,
      nd.pairs.length,
      nd.pairs.map(
        (p) =>
          `${p.test} (test, product ${p.testProduct}) ~ ${p.train} (train, product ${p.trainProduct}): ${p.cosine.toFixed(4)}`,
      ),
    );
  } else {
    lines.push(
      '  near-duplicates (re-encoded or resized copies): not checked; give a model (--model_path) to compare embeddings',
    );
  }
  if (r.unreadable.length)
    lines.push(`  ${count(r.unreadable.length, 'file(s)')} could not be read and were left out of the content check`);
  lines.push(
    hasLeakage(r)
      ? 'Leakage found: test numbers may be too good. Nothing was changed; fix the lists.'
      : 'No train/test leakage found. Nothing was changed.',
  );
  if (reportFile) lines.push(`Report: ${reportFile}`);
  return lines.join('\n');
}
