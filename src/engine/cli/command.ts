/** What a `vembed` subcommand is. Each lives in its own file under commands/. */
import type { OptionSpec, ParsedArgs } from './args';
import type { Reporter } from './reporter';

export interface CommandContext {
  args: ParsedArgs;
  reporter: Reporter;
  /** Aborted on SIGINT/SIGTERM; long commands finish their step and stop cleanly. */
  signal: AbortSignal;
}

export interface Command {
  /** Words after `vembed`, e.g. `train` or `benchmark sop`. */
  name: string;
  summary: string;
  /** Usage line after the command name, e.g. `--config FILE [--set key=value ...]`. */
  usage: string;
  /** Longer help: what it does, files it reads and writes. */
  description?: string;
  options: OptionSpec[];
  /**
   * Whether the command watches `signal` and stops cleanly on its own (train
   * saves a checkpoint). Others are ended by the first SIGINT/SIGTERM at once.
   */
  stopsOnSignal?: boolean;
  /** Resolves to the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Failures a user can act on: printed without a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly code = 'user-error',
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** A command whose issue has not landed yet says so instead of failing silently. */
export function notYetImplemented(
  name: string,
  summary: string,
  issue: string,
  usage = '',
  options: OptionSpec[] = [],
): Command {
  return {
    name,
    summary: `${summary} (not implemented yet)`,
    usage,
    options,
    async run(ctx) {
      ctx.reporter.event({
        type: 'error',
        code: 'not-implemented',
        message: `\`vembed ${name}\` is not implemented yet in this version (${issue}).`,
      });
      return 3;
    },
  };
}
