import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { writeFileAtomic } from '../../../shared/fs/atomic';
import { compareReports, formatComparisonMarkdown, formatComparisonText } from '../../retrieval/compare';
import { readReport, ReportError } from '../../../shared/artifacts/reportFile';

export const benchmarkCompareCommand: Command = {
  name: 'benchmark compare',
  summary: 'Before/after table of two benchmark reports',
  usage: 'BEFORE_REPORT AFTER_REPORT [--markdown FILE]',
  description:
    'Reads two sop_report.json files (e.g. the zero-shot model and the fine-tuned one) and prints, for each metric, the value before, after, and the change in percentage points. --markdown also writes the table as Markdown.',
  options: [
    { name: 'markdown', type: 'string', metavar: 'FILE', description: 'Also write the table as Markdown to FILE.' },
  ],
  async run({ args, reporter }) {
    if (args.positionals.length !== 2) {
      throw new UsageError(
        `needs two reports, got ${args.positionals.length}: vembed benchmark compare BEFORE_REPORT AFTER_REPORT`,
      );
    }
    const [beforeFile, afterFile] = args.positionals as [string, string];
    let comparison;
    try {
      comparison = compareReports(readReport(beforeFile), readReport(afterFile));
    } catch (e) {
      if (e instanceof ReportError) throw new UserError(e.message, e.hint, 'bad-report', e.file);
      throw e;
    }
    const text = formatComparisonText(comparison);
    if (reporter.json) reporter.info(text);
    else reporter.result(text);
    const markdown = args.options.markdown as string | undefined;
    if (markdown) {
      writeFileAtomic(path.resolve(markdown), formatComparisonMarkdown(comparison));
      reporter.info(`wrote ${markdown}`);
    }
    return 0;
  },
};
