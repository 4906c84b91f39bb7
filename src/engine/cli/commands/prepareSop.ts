import * as path from 'node:path';
import { DEFAULT_PREPARE_SEED, formatPrepareSummary, prepareSop } from '../../data/prepareSop';
import { UsageError } from '../args';
import type { Command } from '../command';
import { checkSopHealth } from '../../run/dataHealthCheck';
import { reportPrepared } from './preparedReport';

export const prepareSopCommand: Command = {
  name: 'prepare-sop',
  summary: 'Turn Stanford Online Products into train.jsonl / val.jsonl',
  usage: '--sop_root DIR [--seed N] [--skip_missing]',
  description: [
    'Reads Ebay_train.txt and Ebay_test.txt in DIR (header `image_id class_id super_class_id path`) and writes',
    'DIR/train.jsonl (from Ebay_train) and DIR/val.jsonl (from Ebay_test), one pair a line:',
    '  {"query_image": "bicycle_final/111.jpg", "positive": "bicycle_final/112.jpg", "label": 1001}',
    'Each image is a query paired with another image of the same product, drawn with the seed (the same seed',
    'gives the same files); a product with one image is paired with itself. label is the product (class_id).',
    'Listed images missing on disk stop the command (with a count and examples) unless --skip_missing leaves',
    "them out. val.jsonl is SOP's TEST split, so validation numbers during training are test-set numbers.",
    'Then checks the lists (single-image products, images under two products or in both splits, by path and by',
    'content) and writes DIR/data-health.json; `vembed check-data --model_path` also compares embeddings.',
  ].join('\n'),
  options: [
    {
      name: 'sop_root',
      type: 'string',
      metavar: 'DIR',
      required: true,
      description: 'Folder holding Ebay_train.txt, Ebay_test.txt and the image folders.',
    },
    { name: 'seed', type: 'integer', metavar: 'N', default: DEFAULT_PREPARE_SEED, description: 'Seed of the pairing.' },
    {
      name: 'skip_missing',
      type: 'boolean',
      description: 'Leave listed images that are missing on disk out of the pairs instead of stopping.',
    },
  ],
  async run({ args, reporter }) {
    const started = Date.now();
    const sopRoot = path.resolve(String(args.options.sop_root));
    const seed = args.options.seed as number;
    if (seed < 0 || seed > 2147483647) throw new UsageError(`--seed must be between 0 and 2147483647, got ${seed}`);
    const result = prepareSop({ sopRoot, seed, skipMissing: args.options.skip_missing === true });
    for (const s of [result.train, result.val]) {
      if (s.missingSkipped > 0)
        reporter.warn(
          `${path.basename(s.source)}: ${s.missingSkipped} listed image(s) are missing and were left out`,
          'missing-images',
        );
    }
    // The model-free data-health check (`vembed check-data` adds near-duplicates from a model).
    const health = await checkSopHealth(sopRoot, (done, total) =>
      reporter.event({ type: 'progress', task: 'hashing images', done, total, unit: 'images' }),
    );
    return reportPrepared(reporter, {
      summary: formatPrepareSummary(result),
      health,
      leakage: 'train/test leakage found in the SOP lists',
      train: result.train.output,
      val: result.val.output,
      startedMs: started,
    });
  },
};
