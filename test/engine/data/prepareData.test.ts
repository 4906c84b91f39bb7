// `prepare-data`: a user's folders or CSV to train.jsonl / val.jsonl, and every way they can be wrong.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readFolderLayout } from '../../../src/engine/data/folderLayout';
import { readCsvLayout } from '../../../src/engine/data/csvLayout';
import { prepareData, type PrepareDataResult } from '../../../src/engine/data/prepareData';
import { valProductCount } from '../../../src/engine/data/productSplit';
import { DataError, type DataProblem } from '../../../src/engine/data/problems';
import { parsePairFile } from '../../../src/engine/data/pairDataset';
import { writeTinyImage } from './sopTree';

const dirs: string[] = [];
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-prepdata-'));
  dirs.push(d);
  return d;
}
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Writes distinct tiny images at the given paths (relative to root). */
async function images(root: string, rels: readonly string[]): Promise<void> {
  let n = 0;
  for (const r of rels) await writeTinyImage(path.join(root, r), ++n);
}

interface Pair {
  query_image: string;
  positive: string;
  label: string | number;
  super_label?: string | number;
}
const readPairs = (file: string): Pair[] =>
  fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Pair);

/** The product of each image, as the layout defines it (independent of the code under test). */
function checkPairs(r: PrepareDataResult, productOf: Map<string, string | number>, superOf?: Map<string, string>) {
  const seen = new Set<string>();
  const productsBySplit: Array<Set<string | number>> = [];
  for (const split of [r.train, r.val]) {
    const pairs = readPairs(split.summary.output);
    const products = new Set<string | number>();
    for (const p of pairs) {
      assert.equal(p.label, productOf.get(p.query_image), `label of ${p.query_image}`);
      assert.equal(productOf.get(p.positive), p.label, `positive of ${p.query_image} is of the same product`);
      if (superOf) assert.equal(p.super_label, superOf.get(p.query_image));
      else assert.equal(p.super_label, undefined);
      const others = [...productOf].filter(([img, prod]) => prod === p.label && img !== p.query_image);
      if (others.length > 0) assert.notEqual(p.positive, p.query_image, 'another image when the product has one');
      else assert.equal(p.positive, p.query_image);
      assert.ok(!seen.has(p.query_image), `${p.query_image} is a query once`);
      seen.add(p.query_image);
      products.add(p.label);
    }
    productsBySplit.push(products);
  }
  assert.deepEqual([...seen].sort(), [...productOf.keys()].sort(), 'every image is a query in one split');
  const [trainP, valP] = productsBySplit as [Set<string | number>, Set<string | number>];
  assert.deepEqual(
    [...trainP].filter((p) => valP.has(p)),
    [],
    'no product on both sides',
  );
  return { trainProducts: trainP, valProducts: valP };
}

const NESTED = [
  'chairs/sku 1/front.png',
  'chairs/sku 1/back.png',
  'chairs/sku 1/side.png',
  'chairs/sku-2/a.png',
  'chairs/sku-2/b.png',
  'lamps/sku 1/a.png', // same folder name as chairs/sku 1: another product
  'lamps/sku 1/b.png',
  'lamps/L4/only.png',
  'tables/T5/a.png',
  'tables/T5/b.png',
  'tables/T6/a.png',
  'tables/T6/b.png',
];

test('folders, nested under super classes: products are folder paths, split by product, pairs within products', async () => {
  const root = tmp();
  await images(root, NESTED);
  fs.writeFileSync(path.join(root, 'chairs', 'notes.txt'), 'not an image'); // ignored
  fs.mkdirSync(path.join(root, '.cache'));
  fs.writeFileSync(path.join(root, '.cache', 'x.png'), ''); // hidden: ignored
  const productOf = new Map(NESTED.map((p) => [p, p.split('/').slice(0, 2).join('/')]));
  const superOf = new Map(NESTED.map((p) => [p, p.split('/')[0]!]));
  const r = prepareData({ layout: readFolderLayout(root), outDir: root, seed: 3, val: { products: 2 } });
  const { valProducts } = checkPairs(r, productOf, superOf);
  assert.equal(valProducts.size, 2);
  assert.equal(r.train.summary.products + r.val.summary.products, 6);
  assert.equal(r.train.summary.images + r.val.summary.images, NESTED.length);
  // The single-image product is named by its folder.
  const single = r.warnings.filter((w) => w.kind === 'single-image-product');
  assert.equal(single.length, 1);
  assert.equal(single[0]!.file, path.join(root, 'lamps', 'L4'));
  // The files load as training data, with the labels the prepared files say.
  const loaded = parsePairFile(r.train.summary.output, {
    image_root: null,
    allow_absolute_paths: false,
    column_mapping: null,
  });
  assert.deepEqual(loaded.problems, []);
  assert.equal(loaded.records.length, r.train.summary.images);
});

test('folders: the same seed gives the same files, another seed another split; the ratio is of products', async () => {
  const root = tmp();
  await images(root, NESTED);
  const run = (seed: number, out: string) =>
    prepareData({ layout: readFolderLayout(root), outDir: path.join(root, out), seed, val: { ratio: 0.5 } });
  const a = run(1, 'a');
  const b = run(1, 'b');
  assert.equal(fs.readFileSync(a.train.summary.output, 'utf8'), fs.readFileSync(b.train.summary.output, 'utf8'));
  assert.equal(fs.readFileSync(a.val.summary.output, 'utf8'), fs.readFileSync(b.val.summary.output, 'utf8'));
  assert.equal(a.val.summary.products, 3); // 0.5 of 6 products
  const splits = new Set<string>();
  for (let seed = 0; seed < 12; seed++) {
    const r = run(seed, `s${seed}`);
    splits.add([...new Set(r.val.images.map((i) => i.product))].sort().join('|'));
  }
  assert.ok(splits.size > 3, `12 seeds gave ${splits.size} different val sets`);
});

test('folders, flat: one folder per product, no super_label; integer folder names are integer labels', async () => {
  const root = tmp();
  const rels = ['1001/a.png', '1001/b.png', '1002/a.png', '1002/b.png', 'sku x/a.png', 'sku x/b.png'];
  await images(root, rels);
  const productOf = new Map<string, string | number>(
    rels.map((p) => {
      const f = p.split('/')[0]!;
      return [p, /^\d+$/.test(f) ? Number(f) : f];
    }),
  );
  const r = prepareData({ layout: readFolderLayout(root), outDir: root, seed: 42, val: { products: 1 } });
  checkPairs(r, productOf);
});

test('folders: what does not fit the layout is named', async () => {
  const root = tmp();
  await images(root, ['p1/a.png', 'p1/b.png', 'p2/a.png', 'p2/deeper/x.png', 'loose.png', 'p3/c.png']);
  fs.mkdirSync(path.join(root, 'empty'));
  const layout = readFolderLayout(root);
  const byFile = (f: string) => layout.warnings.find((w) => w.file === path.join(root, f));
  assert.match(byFile('loose.png')!.message, /not in a product folder/);
  assert.match(byFile('p2/deeper')!.message, /inside the product folder p2/);
  assert.match(byFile('empty')!.message, /empty folder/);
  assert.deepEqual(layout.errors, []);

  // Product folders next to super-class folders: an error naming the mixed folder.
  const mixed = tmp();
  await images(mixed, ['p1/a.png', 'p1/b.png', 'chairs/s1/a.png', 'both/x.png', 'both/sub/y.png']);
  const m = readFolderLayout(mixed);
  assert.equal(m.errors.length, 1);
  assert.equal(m.errors[0]!.file, path.join(mixed, 'both'));
  assert.throws(
    () => prepareData({ layout: m, outDir: mixed, seed: 1, val: { ratio: 0.5 } }),
    (e: unknown) => e instanceof DataError && /holds both images and folders/.test(e.message),
  );
  assert.ok(!fs.existsSync(path.join(mixed, 'train.jsonl')), 'nothing written on error');
});

const CSV_IMAGES = [
  'photos/chair, red/1.png',
  'photos/chair, red/2.png',
  'photos/lamp "big"/1.png',
  'photos/lamp "big"/2.png',
  'photos/with space/a b.png',
  'photos/with space/c d.png',
  'photos/t/1.png',
  'photos/t/2.png',
];

/** A field as a spreadsheet writes it: quoted when it holds the delimiter, a quote or a space. */
const quote = (f: string, d: string) => (/[",\s]/.test(f) || f.includes(d) ? `"${f.replace(/"/g, '""')}"` : f);

async function csvTree(options: { delimiter: ',' | '\t'; eol: string; bom: boolean; name: string }) {
  const root = tmp();
  await images(root, CSV_IMAGES);
  const products = ['sku-1', 'sku-1', 'sku-2', 'sku-2', 'sku-3', 'sku-3', 'sku-4', 'sku-4'];
  const supers = ['furniture', 'furniture', 'lighting', 'lighting', 'furniture', 'furniture', 'furniture', 'furniture'];
  const d = options.delimiter;
  const rows = [
    ['Image Path', 'Product ID', 'Category'].map((f) => quote(f, d)).join(d),
    ...CSV_IMAGES.map((p, i) => [p, products[i]!, supers[i]!].map((f) => quote(f, d)).join(d)),
  ];
  const file = path.join(root, options.name);
  fs.writeFileSync(file, (options.bom ? '\ufeff' : '') + rows.join(options.eol) + options.eol);
  return {
    root,
    file,
    productOf: new Map(CSV_IMAGES.map((p, i) => [p, products[i]!])),
    superOf: new Map(CSV_IMAGES.map((p, i) => [p, supers[i]!])),
  };
}

for (const variant of [
  { delimiter: ',' as const, eol: '\r\n', bom: true, name: 'list.csv' },
  { delimiter: '\t' as const, eol: '\n', bom: false, name: 'list.tsv' },
  { delimiter: '\t' as const, eol: '\r\n', bom: true, name: 'list.txt' }, // delimiter found from the first line
]) {
  test(`csv: quoted paths with commas, quotes and spaces (${variant.name}, ${JSON.stringify(variant.eol)}, BOM ${variant.bom})`, async () => {
    const t = await csvTree(variant);
    const layout = readCsvLayout({ csv: t.file });
    assert.deepEqual(layout.errors, []);
    const r = prepareData({ layout, outDir: t.root, seed: 9, val: { ratio: 0.5 } });
    const { valProducts } = checkPairs(r, t.productOf, t.superOf);
    assert.equal(valProducts.size, 2);
    assert.equal(readPairs(r.train.summary.output)[0]!.query_image.startsWith('photos/'), true);
  });
}

test('csv: without a header row the columns are read by position; --image_root and --out', async () => {
  const root = tmp();
  await images(root, ['imgs/a.png', 'imgs/b.png', 'imgs/c.png', 'imgs/d.png']);
  const listDir = tmp();
  const file = path.join(listDir, 'list.csv');
  fs.writeFileSync(file, 'imgs/a.png,1\nimgs/b.png,1\nimgs/c.png,2\nimgs/d.png,2\n');
  const layout = readCsvLayout({ csv: file, imageRoot: root });
  assert.match(layout.warnings[0]!.message, /no header row/);
  const out = path.join(tmp(), 'prepared');
  const r = prepareData({ layout, outDir: out, seed: 1, val: { products: 1 } });
  checkPairs(
    r,
    new Map([
      ['imgs/a.png', 1],
      ['imgs/b.png', 1],
      ['imgs/c.png', 2],
      ['imgs/d.png', 2],
    ]),
  );
  assert.ok(fs.existsSync(path.join(out, 'train.jsonl')));
});

test('csv: a header without the needed columns is a clear error naming the line and the columns found', () => {
  const dir = tmp();
  const file = path.join(dir, 'list.csv');
  fs.writeFileSync(file, 'filename_x,whatever\na.png,1\n');
  assert.throws(
    () => readCsvLayout({ csv: file }),
    (e: unknown) =>
      e instanceof DataError &&
      e.message.startsWith(`${file}:1: the header does not name the image path column and the product id column`) &&
      /`filename_x`, `whatever`/.test(e.message) &&
      /--path_column NAME/.test(e.hint ?? ''),
  );
  // Named explicitly, they are found.
  fs.writeFileSync(file, 'filename_x,whatever\n');
  assert.deepEqual(readCsvLayout({ csv: file, columns: { path: 'filename_x', product: 'whatever' } }).errors, []);
  assert.throws(
    () => readCsvLayout({ csv: file, columns: { path: 'nope', product: 'whatever' } }),
    /list\.csv:1: no column `nope` \(--path_column\)/,
  );
});

test('csv: planted errors are each named with their line, and nothing is written', async () => {
  const root = tmp();
  await images(root, ['a.png', 'b.png', 'c.png', 'd.png', 'e.png']);
  const lines = [
    'path,product,super_class', // 1
    'a.png,p1,s1', // 2
    'b.png,p1,s1', // 3
    'missing.png,p1,s1', // 4: missing file
    'a.png,p2,s1', // 5: a.png under a second product
    'c.png,p2,s1,extra', // 6: too many fields
    'd.png,,s1', // 7: no product
    'e.png,p1,s2', // 8: p1's super class differs from line 2
    '../outside.png,p3,s1', // 9: leaves the root
    'b.png,p1,s1', // 10: duplicate of line 3 (a warning)
    '"c.png,p3,s1', // 11: an unclosed quote swallows the rest
  ];
  const file = path.join(root, 'list.csv');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  const layout = readCsvLayout({ csv: file });
  let thrown: DataError | undefined;
  try {
    prepareData({ layout, outDir: root, seed: 1, val: { ratio: 0.5 } });
  } catch (e) {
    thrown = e as DataError;
  }
  assert.ok(thrown instanceof DataError);
  const at = (line: number): DataProblem | undefined => thrown!.problems.find((p) => p.line === line);
  assert.equal(at(4)?.kind, 'missing-image');
  assert.match(at(4)!.message, /missing\.png not found/);
  assert.equal(at(5)?.kind, 'inconsistent');
  assert.match(at(5)!.message, /a\.png is listed under product "p2" here and "p1" on line 2/);
  assert.match(at(6)!.message, /expected 3 fields like the header, found 4/);
  assert.match(at(7)!.message, /product id is empty/);
  assert.match(at(8)!.message, /product "p1" has super class "s2" here but "s1" on line 2/);
  assert.equal(at(9)?.kind, 'path-escapes');
  assert.match(at(11)!.message, /quoted field is never closed/);
  for (const p of thrown.problems) assert.equal(p.file, file);
  assert.deepEqual(
    [...new Set(thrown.problems.map((p) => p.line))].sort((a, b) => a! - b!),
    [4, 5, 6, 7, 8, 9, 11],
  );
  assert.equal(layout.warnings.find((w) => w.line === 10)?.kind, 'duplicate-image');
  assert.ok(!fs.existsSync(path.join(root, 'train.jsonl')));
});

test('csv: missing images with skipMissing are left out and reported as warnings with their lines', async () => {
  const root = tmp();
  await images(root, ['a.png', 'b.png', 'c.png', 'd.png']);
  const file = path.join(root, 'list.csv');
  fs.writeFileSync(file, 'path,product\na.png,1\nb.png,1\ngone.png,1\nc.png,2\nd.png,2\n');
  const r = prepareData({
    layout: readCsvLayout({ csv: file }),
    outDir: root,
    seed: 1,
    val: { products: 1 },
    skipMissing: true,
  });
  const missing = r.warnings.filter((w) => w.kind === 'missing-image');
  assert.deepEqual(
    missing.map((w) => [w.file, w.line]),
    [[file, 4]],
  );
  assert.equal(r.train.summary.images + r.val.summary.images, 4);
});

test('split sizes: a ratio rounds but leaves each side a product; counts are checked', () => {
  assert.equal(valProductCount(10, { ratio: 0.5 }), 5);
  assert.equal(valProductCount(10, { ratio: 0.01 }), 1);
  assert.equal(valProductCount(10, { ratio: 0.99 }), 9);
  assert.equal(valProductCount(7, { products: 3 }), 3);
  assert.throws(() => valProductCount(7, { products: 7 }), /between 1 and 6/);
  assert.throws(() => valProductCount(1, { ratio: 0.5 }), /at least 2/);
});
