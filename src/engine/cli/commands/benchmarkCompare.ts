import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { writeFileAtomic } from '../../../shared/fs/atomic';
import { checkOutputFile } from '../../../shared/fs/outputPath';
import {
  compareReports,
  compareReportSpread,
  formatComparisonMarkdown,
  formatComparisonText,
  formatSpreadComparisonMarkdown,
  formatSpreadComparisonText,
} from '../../retrieval/compare';
import { readReport, ReportError } from '../../../shared/artifacts/reportFile';
import {
  analyseBenchmarks,
  ERROR_ANALYSIS_FILE,
  formatErrorAnalysisMarkdown,
  formatErrorAnalysisText,
  NoErrorAnalysis,
  writeErrorAnalysis,
  type BenchmarkErrorAnalysis,
} from '../../analysis/errorReport';

export const benchmarkCompareCommand: Command = {
  name: 'benchmark compare',
  summary: 'Before/after table of two benchmark reports, and the error analysis when their neighbours are there',
  usage:
    'BEFORE_REPORT AFTER_REPORT [AFTER_REPORT ...] [--labels A,B,...] [--markdown FILE] [--analysis FILE] [--top N]',
  description: [
    'Reads two sop_report.json files (e.g. the zero-shot model and the fine-tuned one) and prints, for each metric, the value before, after, and the change in percentage points. --markdown also writes the table as Markdown.',
    "With several AFTER reports (the same fine-tuning with different seeds, e.g. from `vembed train --seeds`), each gets a column (headed by --labels) and After is their mean ± sample sd; the delta is the mean's. The error analysis then uses the first AFTER.",
    `When both reports have their benchmark's neighbours beside them (same images), it adds the error analysis: Recall@1 per super class, the queries that improved and regressed most (first correct rank before -> after), and the product pairs most often confused; and writes it as JSON to --analysis (default: ${ERROR_ANALYSIS_FILE} beside AFTER_REPORT).`,
  ].join('\n'),
  options: [
    { name: 'markdown', type: 'string', metavar: 'FILE', description: 'Also write the tables as Markdown to FILE.' },
    {
      name: 'analysis',
      type: 'string',
      metavar: 'FILE',
      description: `Where to write the error analysis (JSON); default ${ERROR_ANALYSIS_FILE} beside AFTER_REPORT.`,
    },
    {
      name: 'labels',
      type: 'string',
      metavar: 'A,B,...',
      description: 'Column headings of several AFTER reports, comma-separated (default: after 1, after 2, ...).',
    },
    {
      name: 'top',
      type: 'integer',
      metavar: 'N',
      default: 10,
      description: 'Queries and product pairs listed in each section.',
    },
  ],
  async run({ args, reporter }) {
    if (args.positionals.length < 2) {
      throw new UsageError(
        `needs at least two reports, got ${args.positionals.length}: vembed benchmark compare BEFORE_REPORT AFTER_REPORT [AFTER_REPORT ...]`,
      );
    }
    const [beforeFile, afterFile, ...moreAfters] = args.positionals as [string, string, ...string[]];
    const labelsOption = args.options.labels as string | undefined;
    const labels = labelsOption?.split(',').map((l) => l.trim());
    if (labels && labels.length !== moreAfters.length + 1)
      throw new UsageError(`--labels names ${labels.length} column(s) for ${moreAfters.length + 1} AFTER report(s)`);
    // Before any work: every file this writes may be written (regular files, not devices, links or folders).
    const markdown = args.options.markdown as string | undefined;
    if (markdown !== undefined) checkOutputFile(markdown, '--markdown');
    const analysisArg = args.options.analysis as string | undefined;
    const analysisFile =
      analysisArg !== undefined
        ? checkOutputFile(analysisArg, '--analysis')
        : checkOutputFile(path.join(path.dirname(afterFile), ERROR_ANALYSIS_FILE));
    let table: { text: string; markdown: string };
    try {
      const before = readReport(beforeFile);
      if (moreAfters.length === 0) {
        const comparison = compareReports(before, readReport(afterFile));
        table = { text: formatComparisonText(comparison), markdown: formatComparisonMarkdown(comparison) };
      } else {
        const comparison = compareReportSpread(before, [afterFile, ...moreAfters].map(readReport), labels);
        table = {
          text: formatSpreadComparisonText(comparison),
          markdown: formatSpreadComparisonMarkdown(comparison),
        };
      }
    } catch (e) {
      if (e instanceof ReportError) throw new UserError(e.message, e.hint, 'bad-report', e.file);
      throw e;
    }
    const top = (args.options.top as number | undefined) ?? 10;
    if (!(top >= 1)) throw new UsageError(`--top must be at least 1, got ${top}`);
    let errors: BenchmarkErrorAnalysis | undefined;
    try {
      errors = analyseBenchmarks(path.dirname(path.resolve(beforeFile)), path.dirname(path.resolve(afterFile)), {
        topQueries: top,
        topPairs: top,
      });
    } catch (e) {
      if (!(e instanceof NoErrorAnalysis)) throw e;
      reporter.info(`no error analysis: ${e.message}`);
      // An analysis left there from an earlier comparison would be read as this one's.
      if (fs.existsSync(analysisFile)) {
        fs.rmSync(analysisFile, { force: true });
        reporter.info(`removed ${analysisFile}: it held an earlier comparison's analysis`);
      }
    }
    const text = table.text + (errors ? `\n\n${formatErrorAnalysisText(errors)}` : '');
    if (reporter.json) reporter.info(text);
    else reporter.result(text);
    if (markdown) {
      writeFileAtomic(
        path.resolve(markdown),
        table.markdown + (errors ? `\n${formatErrorAnalysisMarkdown(errors)}` : ''),
      );
      reporter.info(`wrote ${markdown}`);
    }
    if (errors) {
      writeErrorAnalysis(analysisFile, errors);
      reporter.info(`wrote ${analysisFile}`);
    }
    return 0;
  },
};
