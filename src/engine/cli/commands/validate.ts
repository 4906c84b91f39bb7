import { UsageError } from '../args';
import { formatDiagnostic } from '../../../shared/config/validate';
import { validateConfigFile } from '../../config/load';
import type { Command } from '../command';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'Check a training config: unknown keys, types, ranges, values, paths.',
  usage: 'CONFIG',
  description:
    'Prints one `file:line:col: error|warning: message` line per problem. Exits 1 if any is an error, 0 otherwise.',
  options: [],
  async run({ args, reporter }) {
    const file = args.positionals[0];
    if (!file) throw new UsageError('needs a config file: vembed validate CONFIG');
    const diagnostics = validateConfigFile(file);
    for (const d of diagnostics) {
      if (reporter.json) {
        const ev = { file, message: d.message, code: d.code, ...(d.range ? { line: d.range.start.line + 1 } : {}) };
        reporter.event(d.severity === 'error' ? { type: 'error', ...ev } : { type: 'warning', ...ev });
      } else {
        reporter.result(formatDiagnostic(d, file));
      }
    }
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    const warnings = diagnostics.filter((d) => d.severity === 'warning').length;
    reporter.info(`${file}: ${errors} error(s), ${warnings} warning(s)`);
    return errors > 0 ? 1 : 0;
  },
};
