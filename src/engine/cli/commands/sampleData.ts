import * as path from 'node:path';
import { formatPrepareSummary } from '../../data/prepareSop';
import { installSampleData, SAMPLE_DIR_NAME } from '../../data/sampleData';
import type { Command } from '../command';

export const sampleDataCommand: Command = {
  name: 'sample-data',
  summary: 'Install the built-in sample data set (SOP layout) with its train.jsonl / val.jsonl',
  usage: '[--out DIR] [--force]',
  description: [
    'Copies the sample set that ships with vembed (product drawings in Stanford Online Products layout:',
    'super-class folders, Ebay_train.txt, Ebay_test.txt) into DIR and writes train.jsonl and val.jsonl',
    `there, as \`vembed prepare-sop\` does. DIR defaults to ${SAMPLE_DIR_NAME} under the working directory,`,
    'where the demo config expects it. A copy that is already there is left as it is.',
  ].join('\n'),
  options: [
    {
      name: 'out',
      type: 'string',
      metavar: 'DIR',
      default: SAMPLE_DIR_NAME,
      description: 'Where to put the sample set.',
    },
    { name: 'force', type: 'boolean', description: 'Replace DIR if it holds something else.' },
  ],
  async run({ args, reporter }) {
    const started = Date.now();
    const r = installSampleData({ out: String(args.options.out), force: args.options.force === true });
    const where = path.relative(process.cwd(), r.dir) || '.';
    const what: Record<typeof r.status, string> = {
      'in-place': `The sample data set is already here: ${where} is the built-in copy itself (${r.images} images).`,
      'already-installed': `The sample data set is already installed in ${where} (${r.images} images); nothing copied.`,
      installed: `Copied the sample data set (${r.images} images) from ${r.source} to ${where}.`,
      replaced: `Replaced the contents of ${where} with the sample data set (${r.images} images, --force).`,
    };
    reporter.info(what[r.status]);
    if (r.prepared) {
      if (reporter.json) for (const line of formatPrepareSummary(r.prepared).split('\n')) reporter.info(line);
      else reporter.result(formatPrepareSummary(r.prepared));
    } else {
      reporter.info(
        `Its train.jsonl and val.jsonl are there already (\`vembed prepare-sop --sop_root ${where}\` rewrites them).`,
      );
    }
    reporter.event({
      type: 'finished',
      status: 'completed',
      seconds: (Date.now() - started) / 1000,
      outputs: { dir: r.dir, train: path.join(r.dir, 'train.jsonl'), val: path.join(r.dir, 'val.jsonl') },
    });
    return 0;
  },
};
