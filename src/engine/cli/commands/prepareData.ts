import * as path from 'node:path';
import { readCsvLayout } from '../../data/csvLayout';
import { readFolderLayout } from '../../data/folderLayout';
import { DEFAULT_PREPARE_SEED } from '../../data/prepareSop';
import { formatPrepareDataSummary, prepareData } from '../../data/prepareData';
import { DataError, type DataProblem } from '../../data/problems';
import type { ValSize } from '../../data/productSplit';
import type { Reporter } from '../../report/reporter';
import { checkPreparedHealth } from '../../run/dataHealthCheck';
import { reportPrepared } from './preparedReport';
import { UsageError } from '../args';
import type { Command } from '../command';

/** More problem events than this would only flood a client; the message and the counts cover the rest. */
const MAX_PROBLEM_EVENTS = 1000;

/** Each problem as a `warning` event with its file and line, so the extension can list them where they are. */
function emitProblems(reporter: Reporter, problems: readonly DataProblem[], severity: 'error' | 'warning'): void {
  if (!reporter.json) return;
  for (const p of problems.slice(0, MAX_PROBLEM_EVENTS))
    reporter.event({
      type: 'warning',
      code: `data-${severity}:${p.kind}`,
      message: p.message,
      file: p.file,
      ...(p.line !== undefined ? { line: p.line } : {}),
    });
}

function valSizeOf(options: Record<string, unknown>): ValSize {
  const ratio = options.val_ratio as number | undefined;
  const products = options.val_products as number | undefined;
  if (ratio !== undefined && products !== undefined)
    throw new UsageError('give --val_ratio or --val_products, not both');
  if (products !== undefined) {
    if (products < 1) throw new UsageError(`--val_products must be at least 1, got ${products}`);
    return { products };
  }
  const r = ratio ?? 0.5;
  if (!(r > 0 && r < 1)) throw new UsageError(`--val_ratio must be between 0 and 1 (exclusive), got ${r}`);
  return { ratio: r };
}

export const prepareDataCommand: Command = {
  name: 'prepare-data',
  summary: 'Turn your own product images (folders or a CSV) into train.jsonl / val.jsonl',
  usage:
    '(--layout folders --root DIR | --layout csv --csv FILE [--image_root DIR]) [--out DIR] [--val_ratio R | --val_products N] [--seed N] [--skip_missing]',
  description: [
    'Two layouts:',
    '  folders  one folder per product under --root (ROOT/sku-1/a.jpg), optionally grouped by super class',
    '           (ROOT/chairs/sku-1/a.jpg); the product is the folder path under ROOT, the super class its parent.',
    '  csv      a CSV or TSV with a header row naming the image path, the product id and optionally the super',
    '           class (e.g. `path,product_id,super_class`; --path_column etc. name other headers); paths are',
    "           relative to --image_root (default: the CSV's folder). Quoted fields, CRLF and a BOM are read.",
    'Products are split between train and val (no product on both sides, as in SOP), seeded: --val_ratio of the',
    "products (default 0.5, SOP's proportion) or --val_products N. Each image becomes a query paired with another",
    "image of its product (prepare-sop's rule and format). Writes OUT/train.jsonl, OUT/val.jsonl (paths relative to",
    'the image root) and OUT/data-health.json (the data-health check on the two splits). OUT defaults to the root',
    "folder, or the CSV's folder. Every problem is named with its file and line (or folder); errors stop the",
    'command before anything is written. val.jsonl plays the test split: validation numbers are test numbers.',
  ].join('\n'),
  options: [
    {
      name: 'layout',
      type: 'string',
      metavar: 'folders|csv',
      required: true,
      description: 'How the data is laid out.',
    },
    {
      name: 'root',
      type: 'string',
      metavar: 'DIR',
      description: 'folders: the folder of product (or super-class) folders.',
    },
    { name: 'csv', type: 'string', metavar: 'FILE', description: 'csv: the CSV/TSV list of images.' },
    {
      name: 'image_root',
      type: 'string',
      metavar: 'DIR',
      description: "csv: what the paths are relative to (default: the CSV's folder).",
    },
    { name: 'path_column', type: 'string', metavar: 'NAME', description: 'csv: header of the image path column.' },
    { name: 'product_column', type: 'string', metavar: 'NAME', description: 'csv: header of the product id column.' },
    { name: 'super_column', type: 'string', metavar: 'NAME', description: 'csv: header of the super class column.' },
    {
      name: 'out',
      type: 'string',
      metavar: 'DIR',
      description: 'Where to write the files (default: beside the input).',
    },
    { name: 'val_ratio', type: 'number', metavar: 'R', description: 'Fraction of the products for val (default 0.5).' },
    {
      name: 'val_products',
      type: 'integer',
      metavar: 'N',
      description: 'Number of products for val (instead of a ratio).',
    },
    {
      name: 'seed',
      type: 'integer',
      metavar: 'N',
      default: DEFAULT_PREPARE_SEED,
      description: 'Seed of the split and the pairing.',
    },
    {
      name: 'skip_missing',
      type: 'boolean',
      description: 'csv: leave listed images missing on disk out instead of stopping.',
    },
  ],
  async run({ args, reporter }) {
    const started = Date.now();
    const o = args.options;
    const seed = o.seed as number;
    if (seed < 0 || seed > 2147483647) throw new UsageError(`--seed must be between 0 and 2147483647, got ${seed}`);
    const val = valSizeOf(o);
    const layoutName = String(o.layout);
    const str = (k: string) => (o[k] === undefined ? undefined : String(o[k]));
    let layout;
    if (layoutName === 'folders') {
      if (!o.root) throw new UsageError('--layout folders needs --root DIR');
      for (const k of ['csv', 'image_root', 'path_column', 'product_column', 'super_column'])
        if (o[k] !== undefined) throw new UsageError(`--${k} is for --layout csv`);
      layout = readFolderLayout(String(o.root));
    } else if (layoutName === 'csv') {
      if (!o.csv) throw new UsageError('--layout csv needs --csv FILE');
      if (o.root !== undefined) throw new UsageError('--root is for --layout folders (use --image_root with csv)');
      const columns = Object.fromEntries(
        (['path', 'product', 'super'] as const).flatMap((r) => (o[`${r}_column`] ? [[r, str(`${r}_column`)!]] : [])),
      );
      layout = readCsvLayout({
        csv: String(o.csv),
        ...(o.image_root ? { imageRoot: String(o.image_root) } : {}),
        columns,
      });
    } else throw new UsageError(`--layout must be folders or csv, got \`${layoutName}\``);

    const outDir = path.resolve(str('out') ?? (layoutName === 'folders' ? layout.source : path.dirname(layout.source)));
    let result;
    try {
      result = prepareData({ layout, outDir, seed, val, skipMissing: o.skip_missing === true });
    } catch (e) {
      if (e instanceof DataError) emitProblems(reporter, e.problems, 'error');
      throw e;
    }
    emitProblems(reporter, result.warnings, 'warning');
    const health = await checkPreparedHealth(
      { train: result.train.images, val: result.val.images },
      result.imageRoot,
      outDir,
      (done, total) => reporter.event({ type: 'progress', task: 'hashing images', done, total, unit: 'images' }),
    );
    return reportPrepared(reporter, {
      summary: formatPrepareDataSummary(result),
      health,
      leakage: 'train/val leakage found in the prepared data',
      train: result.train.summary.output,
      val: result.val.summary.output,
      startedMs: started,
    });
  },
};
