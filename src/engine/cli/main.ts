/**
 * `vembed`: the engine's command line. The VS Code extension runs the same
 * commands as child processes with `--json`.
 */
import { COMMANDS } from './commands';
import { formatOptions, parseArgs, UsageError } from './args';
import { StreamReporter } from './reporter';
import { UserError } from '../../shared/userError';
import { type Command } from './command';
import { suggest } from '../../shared/text/suggest';
import { fileSystemUserError } from '../../shared/fs/makeDirs';

const VERSION = '0.1.0';

function findCommand(argv: readonly string[]): { command?: Command; rest: string[] } {
  // Longest match first: `benchmark sop` before `benchmark`.
  const words = argv.filter((a) => !a.startsWith('-'));
  for (const c of [...COMMANDS].sort((a, b) => b.name.split(' ').length - a.name.split(' ').length)) {
    const parts = c.name.split(' ');
    if (parts.every((p, i) => words[i] === p)) {
      const rest = [...argv];
      for (const p of parts) rest.splice(rest.indexOf(p), 1);
      return { command: c, rest };
    }
  }
  return { rest: [...argv] };
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `vembed ${VERSION}: fine-tune DINOv2 for search by image, evaluate it, search with it.`,
    '',
    'Usage: vembed COMMAND [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Every command takes --json (JSON-lines events on stdout) and --help.',
  ].join('\n');
}

function commandHelp(c: Command): string {
  return [
    `Usage: vembed ${c.name} ${c.usage}`.trimEnd(),
    '',
    c.summary,
    ...(c.description ? ['', c.description] : []),
    '',
    'Options:',
    formatOptions(c.options),
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(mainHelp() + '\n');
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version') {
    process.stdout.write(VERSION + '\n');
    return 0;
  }
  const { command, rest } = findCommand(argv);
  const json = argv.includes('--json');
  const reporter = new StreamReporter(json);
  if (!command) {
    const first = argv.find((a) => !a.startsWith('-')) ?? argv[0]!;
    const s = suggest(
      first,
      COMMANDS.map((c) => c.name.split(' ')[0]!),
    );
    reporter.event({
      type: 'error',
      code: 'usage',
      message: `unknown command "${first}".${s ? ` Did you mean "${s}"?` : ''} Run \`vembed --help\` for the list.`,
    });
    return 2;
  }
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    // Second signal (the user insists), or a command with nothing to finish cleanly: stop now.
    if (controller.signal.aborted || !command.stopsOnSignal) {
      if (!command.stopsOnSignal) reporter.info(`${sig} received: stopping.`);
      process.exit(sig === 'SIGTERM' ? 143 : 130);
    }
    reporter.info(`${sig} received: finishing the current step, then stopping.`);
    controller.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Started by the extension: stdin is a lifeline. When it closes, the
  // extension host is gone; stop as on SIGINT instead of running orphaned.
  const lifeline = process.env.VEMBED_EXIT_WITH_PARENT === '1';
  const onParentGone = () => {
    if (!controller.signal.aborted) {
      reporter.info('the parent process went away: stopping.');
      if (!command.stopsOnSignal) process.exit(130);
      controller.abort('parent-exited');
    }
  };
  if (lifeline) {
    process.stdin.on('end', onParentGone).on('close', onParentGone).on('error', onParentGone);
    process.stdin.resume();
  }
  try {
    const args = parseArgs(rest, command.options);
    if (args.options.help) {
      process.stdout.write(commandHelp(command) + '\n');
      return 0;
    }
    return await command.run({ args, reporter, signal: controller.signal });
  } catch (e) {
    // A command that stops on a signal throws the signal's reason (signal.throwIfAborted()) once it has cleaned up.
    if (controller.signal.aborted && (e === controller.signal.reason || (e as Error)?.name === 'AbortError')) {
      reporter.info(`${command.name}: stopped (${String(controller.signal.reason)}).`);
      return controller.signal.reason === 'SIGTERM' ? 143 : 130;
    }
    if (e instanceof UsageError) {
      reporter.event({
        type: 'error',
        code: 'usage',
        message: `vembed ${command.name}: ${e.message}`,
        hint: `Run \`vembed ${command.name} --help\`.`,
      });
      return 2;
    }
    // No space, no permission, a file in the way: the user's to fix, said with the path.
    const userError = e instanceof UserError ? e : fileSystemUserError(e);
    if (userError) {
      const u = userError;
      reporter.event({
        type: 'error',
        code: u.code,
        message: u.message,
        ...(u.hint ? { hint: u.hint } : {}),
        ...(u.file ? { file: u.file } : {}),
        ...(u.line ? { line: u.line } : {}),
      });
      return 1;
    }
    const err = e as Error;
    reporter.event({
      type: 'error',
      code: 'internal',
      message: err.message,
      hint: process.env.VEMBED_DEBUG ? err.stack : 'Set VEMBED_DEBUG=1 for a stack trace.',
    });
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (lifeline)
      process.stdin.off('end', onParentGone).off('close', onParentGone).off('error', onParentGone).destroy();
  }
}
