/**
 * The data-health report file (`data-health.json`): what the engine's
 * data-health check writes (src/engine/data/dataHealth.ts) next to SOP lists
 * and in a training run's output_dir, and the results panel reads.
 *
 * Paths of images are as the lists wrote them, relative to `imageRoots[split]`
 * when the report names one (older reports do not: their images are relative
 * to the folder of the report, as with SOP). No Node built-ins here: the
 * panel's page reads these types too.
 */

export const DATA_HEALTH_FILE = 'data-health.json';

export type Split = 'train' | 'test';

export interface SingleImageProduct {
  split: Split;
  product: string;
  image: string;
}

/** One file (by path or by content) listed more than once in a way that matters. */
export interface DuplicateGroup {
  /** The listings: image shown, product, split. */
  listings: Array<{ image: string; product: string; split: Split }>;
  /** Under more than one product. */
  crossProduct: boolean;
  /** In both splits: test images the model trains on. */
  crossSplit: boolean;
}

export interface NearDuplicatePair {
  train: string;
  trainProduct: string;
  test: string;
  testProduct: string;
  cosine: number;
}

export interface DataHealthReport {
  images: { train: number; test: number };
  products: { train: number; test: number };
  singleImageProducts: SingleImageProduct[];
  /** The same path listed under two products or in both splits. */
  samePath: DuplicateGroup[];
  /** Different paths with identical bytes, under two products or in both splits. */
  sameContent: DuplicateGroup[];
  /** Products listed in both splits (train and test products should be disjoint). */
  productsInBothSplits: string[];
  /** Present when embeddings were compared. */
  nearDuplicates?: { model: string; threshold: number; pairs: NearDuplicatePair[] };
  /** Files that could not be read for hashing (left out of the content check). */
  unreadable: string[];
  /** The folder each split's relative image paths are relative to (absolute). */
  imageRoots?: Partial<Record<Split, string>>;
}

/** Whether the report holds anything that makes test numbers untrustworthy. */
export function hasLeakage(r: DataHealthReport): boolean {
  return (
    r.samePath.some((g) => g.crossSplit) ||
    r.sameContent.some((g) => g.crossSplit) ||
    r.productsInBothSplits.length > 0 ||
    (r.nearDuplicates?.pairs.length ?? 0) > 0
  );
}

/** The counts a summary shows, one definition for the CLI's text and the panel. */
export interface DataHealthCounts {
  singleImageProducts: { train: number; test: number; total: number };
  /** Groups of one image under two products of a split (same path or identical bytes), not across splits. */
  imagesUnderTwoProducts: number;
  /** Groups of one image (same path or identical bytes) in both splits. */
  imagesInBothSplits: number;
  productsInBothSplits: number;
  /** Undefined when embeddings were not compared. */
  nearDuplicatePairs?: number;
}

export function dataHealthCounts(r: DataHealthReport): DataHealthCounts {
  const groups = [...r.samePath, ...r.sameContent];
  const single = (s: Split) => r.singleImageProducts.filter((p) => p.split === s).length;
  return {
    singleImageProducts: { train: single('train'), test: single('test'), total: r.singleImageProducts.length },
    imagesUnderTwoProducts: groups.filter((g) => g.crossProduct && !g.crossSplit).length,
    imagesInBothSplits: groups.filter((g) => g.crossSplit).length,
    productsInBothSplits: r.productsInBothSplits.length,
    ...(r.nearDuplicates ? { nearDuplicatePairs: r.nearDuplicates.pairs.length } : {}),
  };
}

/** A report that is not what the check writes: names the file and the key. */
export class DataHealthFileError extends Error {
  constructor(
    readonly file: string,
    readonly key: string,
    detail: string,
  ) {
    super(
      `${file}: ${key ? `"${key}" ${detail}` : detail}; expected the data-health.json that \`vembed check-data\`, ` +
        '`vembed prepare-sop` or a training run writes.',
    );
  }
}

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Parse and check a data-health.json; throws DataHealthFileError naming the first bad key. */
export function parseDataHealth(text: string, file: string): DataHealthReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DataHealthFileError(file, '', `not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(value)) throw new DataHealthFileError(file, '', 'not a JSON object');
  const fail = (key: string, detail: string): never => {
    throw new DataHealthFileError(file, key, detail);
  };
  const count = (o: unknown, key: string): number => {
    if (typeof o !== 'number' || !Number.isInteger(o) || o < 0) fail(key, 'must be a non-negative integer');
    return o as number;
  };
  const str = (o: unknown, key: string): string => (typeof o === 'string' ? o : fail(key, 'must be a string'));
  const split = (o: unknown, key: string): Split =>
    o === 'train' || o === 'test' ? o : fail(key, 'must be "train" or "test"');
  const list = (o: unknown, key: string): unknown[] => (Array.isArray(o) ? o : fail(key, 'must be an array'));
  const obj = (o: unknown, key: string): Obj => (isObj(o) ? o : fail(key, 'must be an object'));
  const pairOf = (key: string): { train: number; test: number } => {
    const o = obj(value[key], key);
    return { train: count(o.train, `${key}.train`), test: count(o.test, `${key}.test`) };
  };
  const groups = (key: string): DuplicateGroup[] =>
    list(value[key], key).map((g, i) => {
      const k = `${key}[${i}]`;
      const o = obj(g, k);
      const listings = list(o.listings, `${k}.listings`).map((l, j) => {
        const lk = `${k}.listings[${j}]`;
        const lo = obj(l, lk);
        return {
          image: str(lo.image, `${lk}.image`),
          product: str(lo.product, `${lk}.product`),
          split: split(lo.split, `${lk}.split`),
        };
      });
      if (typeof o.crossProduct !== 'boolean') fail(`${k}.crossProduct`, 'must be true or false');
      if (typeof o.crossSplit !== 'boolean') fail(`${k}.crossSplit`, 'must be true or false');
      return { listings, crossProduct: o.crossProduct as boolean, crossSplit: o.crossSplit as boolean };
    });
  const report: DataHealthReport = {
    images: pairOf('images'),
    products: pairOf('products'),
    singleImageProducts: list(value.singleImageProducts, 'singleImageProducts').map((p, i) => {
      const k = `singleImageProducts[${i}]`;
      const o = obj(p, k);
      return {
        split: split(o.split, `${k}.split`),
        product: str(o.product, `${k}.product`),
        image: str(o.image, `${k}.image`),
      };
    }),
    samePath: groups('samePath'),
    sameContent: groups('sameContent'),
    productsInBothSplits: list(value.productsInBothSplits, 'productsInBothSplits').map((p, i) =>
      str(p, `productsInBothSplits[${i}]`),
    ),
    unreadable:
      value.unreadable === undefined
        ? []
        : list(value.unreadable, 'unreadable').map((p, i) => str(p, `unreadable[${i}]`)),
  };
  if (value.nearDuplicates !== undefined) {
    const nd = obj(value.nearDuplicates, 'nearDuplicates');
    const threshold = nd.threshold;
    if (typeof threshold !== 'number' || !Number.isFinite(threshold))
      fail('nearDuplicates.threshold', 'must be a number');
    report.nearDuplicates = {
      model: str(nd.model, 'nearDuplicates.model'),
      threshold: threshold as number,
      pairs: list(nd.pairs, 'nearDuplicates.pairs').map((p, i) => {
        const k = `nearDuplicates.pairs[${i}]`;
        const o = obj(p, k);
        if (typeof o.cosine !== 'number' || !Number.isFinite(o.cosine)) fail(`${k}.cosine`, 'must be a number');
        return {
          train: str(o.train, `${k}.train`),
          trainProduct: str(o.trainProduct, `${k}.trainProduct`),
          test: str(o.test, `${k}.test`),
          testProduct: str(o.testProduct, `${k}.testProduct`),
          cosine: o.cosine as number,
        };
      }),
    };
  }
  if (value.imageRoots !== undefined) {
    const roots = obj(value.imageRoots, 'imageRoots');
    report.imageRoots = {};
    for (const s of ['train', 'test'] as const)
      if (roots[s] !== undefined) report.imageRoots[s] = str(roots[s], `imageRoots.${s}`);
  }
  return report;
}

/**
 * The images a report lists, each once, in the order a reader meets them
 * (leakage first), at most `perSection` entries of each list: what the panel
 * shows with thumbnails.
 */
export function listedImages(r: DataHealthReport, perSection: number): Array<{ split: Split; image: string }> {
  const out: Array<{ split: Split; image: string }> = [];
  const seen = new Set<string>();
  const add = (split: Split, image: string) => {
    const k = imageKey(split, image);
    if (seen.has(k)) return;
    seen.add(k);
    out.push({ split, image });
  };
  const groups = [...r.samePath, ...r.sameContent];
  for (const g of groups.filter((g) => g.crossSplit).slice(0, perSection))
    for (const l of g.listings) add(l.split, l.image);
  for (const p of (r.nearDuplicates?.pairs ?? []).slice(0, perSection)) {
    add('test', p.test);
    add('train', p.train);
  }
  for (const g of groups.filter((g) => g.crossProduct && !g.crossSplit).slice(0, perSection))
    for (const l of g.listings) add(l.split, l.image);
  for (const p of r.singleImageProducts.slice(0, perSection)) add(p.split, p.image);
  return out;
}

export function imageKey(split: Split, image: string): string {
  return `${split}\u0000${image}`;
}
