import * as path from 'node:path';
import {
  checkDataHealth,
  formatDataHealth,
  hasLeakage,
  type DataHealthReport,
  type HealthImage,
  type Split,
} from '../../data/dataHealth';
import { healthImagesFromPairs, healthImagesFromSop } from '../../data/healthSources';
import { parsePairFile } from '../../data/pairDataset';
import { loadConfigFile } from '../../config/load';
import { formatDiagnostic } from '../../../shared/config/validate';
import { DEFAULT_NEAR_DUPLICATE_THRESHOLD } from '../../retrieval/nearDuplicates';
import { addNearDuplicates } from '../../run/nearDuplicateCheck';
import { warnLeakage } from '../../run/dataHealthCheck';
import { writeJsonAtomic } from '../../../shared/fs/atomic';
import { checkOutputFile } from '../../../shared/fs/outputPath';
import { fileSystemUserError } from '../../../shared/fs/makeDirs';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import type { Command } from '../command';
import { INFERENCE_OPTIONS, withInferenceModel } from './modelOptions';

/** The images to check and where the report goes by default (next to the data). */
function imagesFrom(o: Record<string, unknown>): {
  images: HealthImage[];
  reportDir: string;
  source: string;
  /** Records of the pair files that could not be parsed (left out of the check). */
  badRecords: number;
  /** What each split's relative image paths are relative to, for the report's readers. */
  imageRoots: Partial<Record<Split, string>>;
} {
  if (o.sop_root !== undefined) {
    const root = path.resolve(String(o.sop_root));
    return {
      images: healthImagesFromSop(root),
      reportDir: root,
      source: `SOP lists in ${root}`,
      badRecords: 0,
      imageRoots: { train: root, test: root },
    };
  }
  const file = String(o.config);
  const loaded = loadConfigFile(file);
  if (!loaded.config) {
    const errors = loaded.diagnostics.filter((d) => d.severity === 'error').map((d) => formatDiagnostic(d, file));
    throw new UserError(`${file} has errors:\n${errors.join('\n')}`, 'Run `vembed validate` on it.', 'config');
  }
  const c = loaded.config;
  if (!c.data_path) throw new UserError(`${file}: data_path is not set; nothing to check.`, undefined, 'config');
  const sets = [
    { split: 'train' as const, file: c.data_path },
    ...(c.val_data_path ? [{ split: 'test' as const, file: c.val_data_path }] : []),
  ];
  const parsed = sets.map((s) => ({ split: s.split, ...parsePairFile(s.file, c) }));
  return {
    images: healthImagesFromPairs(parsed),
    reportDir: path.dirname(path.resolve(c.data_path)),
    source: `${sets.map((s) => s.file).join(' (train) and ')}${c.val_data_path ? ' (val, as the test split)' : ''}`,
    badRecords: parsed.reduce((n, p) => n + new Set(p.problems.map((x) => `${x.file}:${x.line ?? 0}`)).size, 0),
    imageRoots: Object.fromEntries(parsed.map((p) => [p.split, path.resolve(p.imageRoot)])),
  };
}

export const checkDataCommand: Command = {
  name: 'check-data',
  summary: 'Data health and train/test leakage: single-image products, duplicates by path, bytes and embeddings',
  usage:
    '(--sop_root DIR | --config FILE) [--model_path DIR_OR_ID [--threshold C]] [--report FILE] [--fail_on_leakage]',
  description: [
    'Lists, with counts and examples: products with a single image; one image file under two products (same path, or',
    'identical bytes by SHA-256); files and products in both train and test; and, with --model_path, near-duplicate',
    'train/test pairs: each test image against its nearest training images by cosine of the embeddings, reported at or',
    `above --threshold (default ${DEFAULT_NEAR_DUPLICATE_THRESHOLD}; see the README for how it was measured). Nothing is changed.`,
    'With --config, data_path is the train split and val_data_path the test split. The full lists go to the report',
    '(JSON; default data-health.json next to the data).',
  ].join('\n'),
  options: [
    {
      name: 'sop_root',
      type: 'string',
      metavar: 'DIR',
      description: 'Folder holding Ebay_train.txt and Ebay_test.txt.',
    },
    {
      name: 'config',
      type: 'string',
      metavar: 'FILE',
      description: 'A training config: checks data_path and val_data_path.',
    },
    {
      name: 'model_path',
      type: 'string',
      metavar: 'DIR_OR_ID',
      description: 'Model for the near-duplicate check (model folder, checkpoint or hub id).',
    },
    {
      name: 'threshold',
      type: 'number',
      metavar: 'C',
      default: DEFAULT_NEAR_DUPLICATE_THRESHOLD,
      description: 'Cosine at or above which a train/test pair is a near-duplicate.',
    },
    {
      name: 'report',
      type: 'string',
      metavar: 'FILE',
      description: 'Where to write the JSON report (default: data-health.json next to the data).',
    },
    {
      name: 'fail_on_leakage',
      type: 'boolean',
      description: 'Exit 1 when train/test leakage is found (for scripts and CI).',
    },
    ...INFERENCE_OPTIONS,
  ],
  async run(ctx) {
    const { args, reporter } = ctx;
    const o = args.options;
    if ((o.sop_root === undefined) === (o.config === undefined))
      throw new UsageError('give exactly one of --sop_root DIR and --config FILE');
    const threshold = o.threshold as number;
    if (!(threshold > 0 && threshold <= 1)) throw new UsageError(`--threshold must be in (0, 1], got ${threshold}`);
    const started = Date.now();
    const { images, reportDir, source, badRecords, imageRoots } = imagesFrom(o);
    if (badRecords > 0)
      reporter.warn(
        `${badRecords} record(s) of the pair files could not be read and are left out of the check (\`vembed train\` lists them)`,
        'records-skipped',
      );
    const reportFile = checkOutputFile(
      o.report !== undefined ? String(o.report) : path.join(reportDir, 'data-health.json'),
      o.report !== undefined ? '--report' : undefined,
    );
    reporter.info(`checking ${images.length} listed images from ${source}`);
    let report: DataHealthReport = {
      ...(await checkDataHealth(images, (done, total) =>
        reporter.event({ type: 'progress', task: 'hashing images', done, total, unit: 'images' }),
      )),
      imageRoots,
    };
    if (o.model_path !== undefined) {
      const model = String(o.model_path);
      report = await withInferenceModel(model, 'check-data', ctx, ({ encoder, embed }) =>
        addNearDuplicates(report, images, {
          model,
          threshold,
          dim: encoder.embeddingDim,
          embed,
          onProgress: (done, total) =>
            reporter.event({ type: 'progress', task: 'embedding', done, total, unit: 'images' }),
        }),
      );
    }
    // The findings are printed even when the report cannot be written (a read-only data folder): they took the work.
    let written: UserError | undefined;
    try {
      writeJsonAtomic(reportFile, report);
    } catch (e) {
      written = e instanceof UserError ? e : fileSystemUserError(e, reportFile);
      if (!written) throw e;
    }
    const text = formatDataHealth(report, written ? undefined : reportFile);
    if (reporter.json) for (const line of text.split('\n')) reporter.info(line);
    else reporter.result(text);
    if (written)
      throw new UserError(
        `the findings above could not be saved as a report: ${written.message}`,
        `Choose where the report goes with --report FILE (a writable place).${written.hint ? ` ${written.hint}` : ''}`,
        'report-not-written',
        reportFile,
      );
    const leak = hasLeakage(report);
    if (leak) warnLeakage(reporter, 'train/test leakage found', reportFile);
    reporter.event({
      type: 'finished',
      status: 'completed',
      seconds: (Date.now() - started) / 1000,
      outputs: { report: reportFile },
    });
    return leak && o.fail_on_leakage === true ? 1 : 0;
  },
};
