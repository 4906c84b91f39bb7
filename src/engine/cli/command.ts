/** What a `vembed` subcommand is. Each lives in its own file under commands/. */
import type { OptionSpec, ParsedArgs } from './args';
import type { Reporter } from '../report/reporter';

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
