/**
 * Training and validation pairs from JSONL, CSV or TSV files.
 *
 * Standard columns: `query_image`, `positive` (required), `label` and
 * `negatives` (optional); `column_mapping` renames them ({standard: yours}).
 * Image paths are relative to `image_root` (default: the data file's folder).
 *
 * In JSONL, `negatives` is a list of paths. In CSV/TSV it is one field with
 * the paths separated by `|` (NEGATIVES_SEPARATOR), or a JSON list
 * (`["a.jpg", "b.jpg"]`). A label is an integer product id or a text id
 * (see parseLabel); an integer written as text is the integer, so `1001` in
 * a CSV and in a JSONL file are the same product.
 */
import * as path from 'node:path';
import type { TrainConfig } from '../../shared/config/schema';
import { readDataText, splitNumberedLines } from './lines';
import { parseDelimited } from './delimited';
import { resolveImagePath } from './imagePaths';
import { checkImageFiles } from './imageCheck';
import { DataError, summariseProblems, type DataProblem } from './problems';

export type DataFormat = 'jsonl' | 'csv' | 'tsv';
export const STANDARD_COLUMNS = ['query_image', 'positive', 'label', 'negatives', 'super_label'] as const;
export type StandardColumn = (typeof STANDARD_COLUMNS)[number];
export const NEGATIVES_SEPARATOR = '|';

/** The config keys the loader reads. */
export type DatasetOptions = Pick<
  TrainConfig,
  'image_root' | 'allow_absolute_paths' | 'column_mapping' | 'validate_data' | 'skip_invalid_records'
>;

export type Label = number | string;

export interface PairRecord {
  /** Absolute paths. */
  query: string;
  positive: string;
  negatives: string[];
  /** The product; null when the file has no label for this record. */
  label: Label | null;
  /** The product's category (SOP's super_class_id), for batches of similar products; null or absent when none. */
  superLabel?: Label | null;
  /** Where the record came from. */
  file: string;
  line: number;
}

export interface LoadedPairs {
  file: string;
  format: DataFormat;
  imageRoot: string;
  records: PairRecord[];
  /** Records left out because of problems (only with skip_invalid_records). */
  skipped: number;
  /** Every problem found, also those of skipped records. */
  problems: DataProblem[];
  /** Distinct image files the records use. */
  uniqueImages: number;
  /** Whether the image files were checked (validate_data). */
  imagesChecked: boolean;
}

export function formatOf(file: string): DataFormat {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv' || ext === '.tab') return 'tsv';
  throw new DataError(
    `${file}: unknown data file type \`${ext || '(none)'}\`.`,
    [{ kind: 'malformed', file, message: 'unknown file type' }],
    'Use .jsonl (one JSON object a line), .csv or .tsv (with a header row).',
  );
}

/** The column name in the file for each standard column. */
function columnNames(mapping: Record<string, string> | null): Record<StandardColumn, string> {
  const names = Object.fromEntries(STANDARD_COLUMNS.map((c) => [c, c])) as Record<StandardColumn, string>;
  for (const [std, yours] of Object.entries(mapping ?? {})) {
    if (!(STANDARD_COLUMNS as readonly string[]).includes(std)) {
      throw new DataError(
        `column_mapping: \`${std}\` is not a standard column (${STANDARD_COLUMNS.join(', ')}).`,
        [],
        'The mapping goes {standard: your_column}, e.g. {query_image: img}.',
      );
    }
    names[std as StandardColumn] = yours;
  }
  return names;
}

function describeColumn(std: StandardColumn, names: Record<StandardColumn, string>): string {
  return names[std] === std ? `\`${std}\`` : `\`${names[std]}\` (column_mapping.${std})`;
}

/** A record's raw values, whatever the format. */
interface RawRecord {
  line: number;
  get(std: StandardColumn): unknown;
  has(std: StandardColumn): boolean;
}

function jsonlRecords(
  text: string,
  file: string,
  names: Record<StandardColumn, string>,
  problems: DataProblem[],
): RawRecord[] {
  const out: RawRecord[] = [];
  for (const { line, text: t } of splitNumberedLines(text)) {
    let obj: unknown;
    try {
      obj = JSON.parse(t);
    } catch (e) {
      problems.push({ kind: 'malformed', file, line, message: `not valid JSON (${(e as Error).message})` });
      continue;
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      problems.push({
        kind: 'malformed',
        file,
        line,
        message: 'expected a JSON object `{"query_image": ..., "positive": ...}`',
      });
      continue;
    }
    const rec = obj as Record<string, unknown>;
    out.push({ line, get: (s) => rec[names[s]], has: (s) => rec[names[s]] !== undefined });
  }
  return out;
}

function delimitedRecords(
  text: string,
  file: string,
  delimiter: ',' | '\t',
  names: Record<StandardColumn, string>,
  problems: DataProblem[],
): RawRecord[] {
  const parsed = parseDelimited(text, delimiter);
  for (const e of parsed.errors) problems.push({ kind: 'malformed', file, line: e.line, message: e.message });
  if (parsed.header.length === 0) return [];
  const index = new Map(parsed.header.map((h, i) => [h, i]));
  for (const std of ['query_image', 'positive'] as const) {
    if (!index.has(names[std])) {
      throw new DataError(
        `${file}:${parsed.headerLine}: the header has no column ${describeColumn(std, names)} (columns: ${parsed.header.join(', ')}).`,
        [{ kind: 'missing-column', file, line: parsed.headerLine, message: `no column ${names[std]}` }],
        'The first row must name the columns. Map your names with column_mapping, e.g. {query_image: img, positive: pos}.',
      );
    }
  }
  const out: RawRecord[] = [];
  for (const row of parsed.rows) {
    if (row.fields.length !== parsed.header.length) {
      problems.push({
        kind: 'malformed',
        file,
        line: row.line,
        message: `expected ${parsed.header.length} fields like the header, found ${row.fields.length}`,
      });
      continue;
    }
    const value = (s: StandardColumn) => {
      const i = index.get(names[s]);
      return i === undefined ? undefined : row.fields[i];
    };
    out.push({ line: row.line, get: value, has: (s) => (value(s) ?? '') !== '' });
  }
  return out;
}

/**
 * A label is the product: an integer id (SOP's class_id, e.g. 1001) or a
 * non-empty text id (e.g. "sku-7"). An integer written as text ("1001", or a
 * CSV field) is the integer, so one product is never two labels. Fractions
 * (1.5), booleans, lists and an explicit `null` are refused: they are
 * nearly always a wrong column. A record without a label leaves it out.
 */
export type ParsedLabel = { ok: true; label: Label | null } | { ok: false; why: string };

export function parseLabel(v: unknown, fromText: boolean): ParsedLabel {
  if (v === undefined || (fromText && v === '')) return { ok: true, label: null };
  if (v === null) return { ok: false, why: 'is null; leave the key out for a record without a label' };
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return { ok: true, label: v };
    return { ok: false, why: `must be an integer product id or a text id, found ${JSON.stringify(v)}` };
  }
  if (typeof v === 'string') {
    const t = v.trim();
    if (t === '') return { ok: false, why: 'is empty' };
    if (/^-?\d{1,15}$/.test(t)) return { ok: true, label: Number(t) };
    if (/^-?\d*\.\d+$|^-?\d+e/i.test(t))
      return { ok: false, why: `must be an integer product id or a text id, found ${JSON.stringify(v)}` };
    return { ok: true, label: t };
  }
  return {
    ok: false,
    why: `must be an integer product id (e.g. 1001) or a text id (e.g. "sku-7"), found ${JSON.stringify(v)}`,
  };
}

function parseNegatives(v: unknown, fromText: boolean): string[] | undefined {
  if (v === undefined || v === null || v === '') return [];
  if (Array.isArray(v)) return v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
  if (fromText && typeof v === 'string') {
    const t = v.trim();
    if (t.startsWith('[')) {
      try {
        return parseNegatives(JSON.parse(t), false);
      } catch {
        return undefined;
      }
    }
    return t
      .split(NEGATIVES_SEPARATOR)
      .map((s) => s.trim())
      .filter(Boolean);
  }
  return undefined;
}

/**
 * Parse a data file into records (no image checks). Problems of individual
 * records are collected, not thrown; problems of the whole file (unknown type,
 * missing header column) throw.
 */
export function parsePairFile(
  file: string,
  options: Pick<DatasetOptions, 'image_root' | 'allow_absolute_paths' | 'column_mapping'>,
): { format: DataFormat; imageRoot: string; records: PairRecord[]; problems: DataProblem[] } {
  const absFile = path.resolve(file);
  const format = formatOf(absFile);
  const names = columnNames(options.column_mapping);
  const imageRoot = path.resolve(options.image_root ?? path.dirname(absFile));
  const text = readDataText(absFile, 'data file', 'Check `data_path` / `val_data_path` in the config.');
  const problems: DataProblem[] = [];
  const raws =
    format === 'jsonl'
      ? jsonlRecords(text, absFile, names, problems)
      : delimitedRecords(text, absFile, format === 'csv' ? ',' : '\t', names, problems);
  const fromText = format !== 'jsonl';

  const records: PairRecord[] = [];
  for (const raw of raws) {
    const here = (kind: DataProblem['kind'], message: string) =>
      problems.push({ kind, file: absFile, line: raw.line, message });
    const before = problems.length;
    const image = (std: 'query_image' | 'positive'): string | undefined => {
      const v = raw.get(std);
      if (!raw.has(std)) {
        here('missing-column', `no ${describeColumn(std, names)}`);
      } else if (typeof v !== 'string') {
        here('malformed', `${describeColumn(std, names)} must be a path (a string), found ${JSON.stringify(v)}`);
      } else {
        const r = resolveImagePath(v, imageRoot, options.allow_absolute_paths);
        if (r.ok) return r.path;
        here('path-escapes', `${describeColumn(std, names)}: ${r.message}`);
      }
      return undefined;
    };
    const query = image('query_image');
    const positive = image('positive');
    const label = parseLabel(raw.get('label'), fromText);
    if (!label.ok) here('malformed', `${describeColumn('label', names)} ${label.why}`);
    const superLabel = parseLabel(raw.get('super_label'), fromText);
    if (!superLabel.ok) here('malformed', `${describeColumn('super_label', names)} ${superLabel.why}`);
    const negRaw = parseNegatives(raw.get('negatives'), fromText);
    if (negRaw === undefined)
      here(
        'malformed',
        `${describeColumn('negatives', names)} must be a list of paths${fromText ? ` (separated by \`${NEGATIVES_SEPARATOR}\`, or a JSON list)` : ''}`,
      );
    const negatives: string[] = [];
    for (const n of negRaw ?? []) {
      const r = resolveImagePath(n, imageRoot, options.allow_absolute_paths);
      if (r.ok) negatives.push(r.path);
      else here('path-escapes', `${describeColumn('negatives', names)}: ${r.message}`);
    }
    if (problems.length === before && query && positive && label.ok && superLabel.ok) {
      records.push({
        query,
        positive,
        negatives,
        label: label.label,
        superLabel: superLabel.label,
        file: absFile,
        line: raw.line,
      });
    }
  }
  problems.sort(byLine);
  return { format, imageRoot, records, problems };
}

const byLine = (a: DataProblem, b: DataProblem) => (a.line ?? 0) - (b.line ?? 0);

export interface LoadHooks {
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/**
 * Load a data file for training or validation. With `validate_data`, every
 * image file is checked up front (exists, readable header). Problems fail the
 * load with a DataError listing them (counted by kind, first ones quoted),
 * unless `skip_invalid_records` is set: then the bad records are left out and
 * counted in `skipped`.
 */
export async function loadPairDataset(
  file: string,
  options: DatasetOptions,
  hooks: LoadHooks = {},
): Promise<LoadedPairs> {
  const parsed = parsePairFile(file, options);
  const absFile = path.resolve(file);
  const problems = [...parsed.problems];
  let records = parsed.records;
  const imagesOf = (r: PairRecord) => [r.query, r.positive, ...r.negatives];

  if (options.validate_data) {
    const failures = await checkImageFiles(records.flatMap(imagesOf), hooks);
    if (failures.size > 0) {
      const good: PairRecord[] = [];
      for (const r of records) {
        const bad = imagesOf(r).filter((p) => failures.has(p));
        if (bad.length === 0) {
          good.push(r);
          continue;
        }
        for (const p of new Set(bad)) {
          const reason = failures.get(p)!;
          problems.push({
            kind: reason === 'file not found' ? 'missing-image' : 'unreadable-image',
            file: absFile,
            line: r.line,
            message: `${path.relative(parsed.imageRoot, p) || p}: ${reason}`,
          });
        }
      }
      records = good;
    }
  }

  problems.sort(byLine);
  const badLines = new Set(problems.map((p) => p.line ?? 0)).size;
  if (problems.length > 0 && !options.skip_invalid_records) {
    throw new DataError(
      `${absFile}: ${badLines} bad record(s).\n${summariseProblems(problems)}`,
      problems,
      problems.some((p) => p.kind === 'missing-column')
        ? 'If your columns have other names, map them with column_mapping ({query_image: your_column, ...}); set skip_invalid_records: true to train without the bad records.'
        : 'Fix the records, or set skip_invalid_records: true to leave them out (they are counted).',
    );
  }
  if (records.length === 0) {
    throw new DataError(
      `${absFile}: no usable records${problems.length ? ` (${badLines} bad record(s) skipped)` : ''}.${problems.length ? `\n${summariseProblems(problems)}` : ''}`,
      problems,
      'Each line needs at least query_image and positive.',
    );
  }
  return {
    file: absFile,
    format: parsed.format,
    imageRoot: parsed.imageRoot,
    records,
    skipped: badLines,
    problems,
    uniqueImages: new Set(records.flatMap(imagesOf)).size,
    imagesChecked: options.validate_data,
  };
}

/**
 * Dense integer ids for the labels (0, 1, 2, ... in order of first use), for
 * the loss's "same product" test. A record without a label gets an id of its
 * own, so it is only its own positive.
 */
export function denseLabelIds(records: readonly Pick<PairRecord, 'label'>[]): Int32Array {
  const ids = new Int32Array(records.length);
  const byLabel = new Map<string, number>();
  let next = 0;
  records.forEach((r, i) => {
    if (r.label === null) {
      ids[i] = next++;
      return;
    }
    // Numbers and strings are kept apart ("7" in JSONL is not 7).
    const key = `${typeof r.label}:${r.label}`;
    let id = byLabel.get(key);
    if (id === undefined) byLabel.set(key, (id = next++));
    ids[i] = id;
  });
  return ids;
}
