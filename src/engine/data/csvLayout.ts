/**
 * The CSV/TSV layout of a user's data: a header row, then one image a row,
 * with its path (relative to the image root), its product id and optionally
 * its super class. Columns are found by name (several usual names are
 * recognised, or named with --path_column / --product_column /
 * --super_column); a file whose first row is already data (an image path
 * first) is read positionally. The delimiter is the extension's (.csv comma,
 * .tsv/.tab tab), or for other names the one the first line uses.
 */
import * as path from 'node:path';
import { isSearchableImage } from '../../shared/imageFiles';
import { parseDelimited } from './delimited';
import { resolveImagePath } from './imagePaths';
import { readDataText } from './lines';
import { parseLabel, type Label } from './pairDataset';
import { DataError, type DataProblem } from './problems';
import { portableRelative, type LayoutRead, type ListedImage } from './productLayout';
import { findMissingImages } from './sopList';

export type CsvRole = 'path' | 'product' | 'super';

/** Recognised header names, compared without case, spaces, `_` and `-`. */
export const COLUMN_NAMES: Readonly<Record<CsvRole, readonly string[]>> = {
  path: ['path', 'image', 'imagepath', 'img', 'file', 'filename', 'filepath', 'queryimage'],
  product: ['product', 'productid', 'label', 'class', 'classid', 'sku', 'item', 'itemid'],
  super: ['superclass', 'superclassid', 'superlabel', 'category', 'categoryid', 'group'],
};

export interface CsvLayoutOptions {
  csv: string;
  /** What the paths are relative to; default: the CSV's folder. */
  imageRoot?: string;
  /** Header names of the columns, overriding the recognised names. */
  columns?: Partial<Record<CsvRole, string>>;
}

const normalise = (name: string) => name.toLowerCase().replace(/[\s_-]/g, '');

export function delimiterOf(file: string, text: string): ',' | '\t' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return ',';
  if (ext === '.tsv' || ext === '.tab') return '\t';
  const first = text.split('\n', 1)[0] ?? '';
  return (first.match(/\t/g)?.length ?? 0) > (first.match(/,/g)?.length ?? 0) ? '\t' : ',';
}

type Columns = Record<CsvRole, number | undefined>;

/** Column indexes from the header, or undefined when the first row is data. */
function findColumns(
  header: string[],
  headerLine: number,
  file: string,
  explicit: Partial<Record<CsvRole, string>>,
): Columns | undefined {
  const names = header.map(normalise);
  const find = (role: CsvRole): number | undefined => {
    const wanted = explicit[role];
    if (wanted !== undefined) {
      const i = names.indexOf(normalise(wanted));
      if (i < 0)
        throw new DataError(
          `${file}:${headerLine}: no column \`${wanted}\` (--${role}_column) in the header (columns: ${header.join(', ')}).`,
          [{ kind: 'missing-column', file, line: headerLine, message: `no column ${wanted}` }],
        );
      return i;
    }
    for (const n of COLUMN_NAMES[role]) {
      const i = names.indexOf(n);
      if (i >= 0) return i;
    }
    return undefined;
  };
  const cols: Columns = { path: find('path'), product: find('product'), super: find('super') };
  const noneKnown = cols.path === undefined && cols.product === undefined && cols.super === undefined;
  // No header: the first row is an image path and a product already.
  if (noneKnown && header.length >= 2 && isSearchableImage(header[0]!)) return undefined;
  const lacking = (['path', 'product'] as const).filter((r) => cols[r] === undefined);
  if (lacking.length > 0) {
    const what = lacking.map((r) => `the ${r === 'path' ? 'image path' : 'product id'} column`).join(' and ');
    throw new DataError(
      `${file}:${headerLine}: the header does not name ${what} (columns found: ${header.map((h) => `\`${h}\``).join(', ')}).`,
      lacking.map((r) => ({ kind: 'missing-column' as const, file, line: headerLine, message: `no ${r} column` })),
      `Name the columns in the first row, e.g. \`path,product_id,super_class\` (recognised: ${lacking
        .map((r) => `${r}: ${COLUMN_NAMES[r].join(', ')}`)
        .join('; ')}), or pass ${lacking.map((r) => `--${r}_column NAME`).join(' and ')}.`,
    );
  }
  return cols;
}

export function readCsvLayout(options: CsvLayoutOptions): LayoutRead {
  const file = path.resolve(options.csv);
  const imageRoot = path.resolve(options.imageRoot ?? path.dirname(file));
  const text = readDataText(file, 'image list', 'Pass --csv: a CSV or TSV of image path, product id [, super class].');
  const parsed = parseDelimited(text, delimiterOf(file, text));
  const errors: DataProblem[] = parsed.errors.map((e) => ({
    kind: 'malformed',
    file,
    line: e.line,
    message: e.message,
  }));
  const warnings: DataProblem[] = [];
  if (parsed.header.length === 0)
    throw new DataError(`${file} is empty.`, [{ kind: 'malformed', file, message: 'empty file' }]);

  const found = findColumns(parsed.header, parsed.headerLine, file, options.columns ?? {});
  const cols: Columns = found ?? { path: 0, product: 1, super: parsed.header.length > 2 ? 2 : undefined };
  const rows = found ? parsed.rows : [{ line: parsed.headerLine, fields: parsed.header }, ...parsed.rows];
  const width = found ? parsed.header.length : undefined;
  if (!found)
    warnings.push({
      kind: 'missing-column',
      file,
      line: parsed.headerLine,
      message: `no header row: columns read as image path, product id${cols.super !== undefined ? ', super class' : ''}`,
    });

  const images: ListedImage[] = [];
  const firstListing = new Map<string, { line: number; product: Label }>();
  const superOf = new Map<Label, { superLabel: Label | null; line: number }>();
  for (const row of rows) {
    const here = (kind: DataProblem['kind'], message: string) => errors.push({ kind, file, line: row.line, message });
    if (width !== undefined && row.fields.length !== width) {
      here(
        'malformed',
        `expected ${width} fields like the header, found ${row.fields.length} (quote paths that hold the delimiter)`,
      );
      continue;
    }
    const rawPath = row.fields[cols.path!] ?? '';
    const product = parseLabel(row.fields[cols.product!] ?? '', true);
    const superField = cols.super !== undefined ? (row.fields[cols.super] ?? '') : '';
    const superLabel = parseLabel(superField, true);
    const resolved = resolveImagePath(rawPath, imageRoot, false);
    if (!resolved.ok) here(rawPath.trim() === '' ? 'malformed' : 'path-escapes', resolved.message);
    if (!product.ok || product.label === null) here('malformed', `product id ${product.ok ? 'is empty' : product.why}`);
    if (!superLabel.ok) here('malformed', `super class ${superLabel.why}`);
    if (!resolved.ok || !product.ok || product.label === null || !superLabel.ok) continue;

    const abs = resolved.path;
    const earlier = firstListing.get(abs);
    if (earlier) {
      if (earlier.product === product.label)
        warnings.push({
          kind: 'duplicate-image',
          file,
          line: row.line,
          message: `${rawPath} is listed again (first on line ${earlier.line}, same product): kept once`,
        });
      else
        here(
          'inconsistent',
          `${rawPath} is listed under product ${JSON.stringify(product.label)} here and ${JSON.stringify(earlier.product)} on line ${earlier.line}; an image belongs to one product`,
        );
      continue;
    }
    const knownSuper = superOf.get(product.label);
    if (knownSuper && knownSuper.superLabel !== superLabel.label) {
      here(
        'inconsistent',
        `product ${JSON.stringify(product.label)} has super class ${JSON.stringify(superLabel.label)} here but ${JSON.stringify(knownSuper.superLabel)} on line ${knownSuper.line}`,
      );
      continue;
    }
    if (!knownSuper) superOf.set(product.label, { superLabel: superLabel.label, line: row.line });
    firstListing.set(abs, { line: row.line, product: product.label });
    images.push({
      abs,
      path: portableRelative(imageRoot, abs),
      product: product.label,
      superLabel: superLabel.label,
      file,
      line: row.line,
    });
  }
  return { source: file, imageRoot, images, errors, warnings, missing: findMissingImages(imageRoot, images) };
}
