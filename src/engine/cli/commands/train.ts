import { formatDiagnostic } from '../../../shared/config/validate';
import { RUN_EXISTS_ERROR } from '../../../shared/protocol';
import { loadConfigFile } from '../../config/load';
import { EventLogReporter, EVENTS_FILE } from '../../run/eventLog';
import { TensorBoardLog } from '../../run/tensorboardLog';
import { acquireRunLock } from '../../run/runLock';
import { runTraining } from '../../run/trainRun';
import { clearPreviousRun, describePreviousRun, findPreviousRun, isWorthKeeping } from '../../run/previousRun';
import { checkWritableDir } from '../../../shared/fs/makeDirs';
import type { Reporter } from '../../report/reporter';
import * as path from 'node:path';
import { UsageError } from '../args';
import { UserError } from '../../../shared/userError';
import { type Command } from '../command';
import { backendFromOptions, COMPUTE_OPTIONS } from './backendOption';
import { runSeedSweep } from './trainSeeds';
import { TORCH_OPTIONS, trainEngineFrom } from './torchOptions';

export const trainCommand: Command = {
  stopsOnSignal: true,
  name: 'train',
  summary: 'Fine-tune a model on a config: evaluates before and after every epoch, saves checkpoints.',
  usage:
    '--config FILE [--set key=value ...] [--seeds N,N,...] [--resume latest|CHECKPOINT | --overwrite] [--backend NAME] [--threads auto|N] [--engine auto|onnx|torch [--num_processes N] [--python PATH] [--accelerate_config FILE]]',
  description: [
    'Values merge as built-in defaults < the config file < --set overrides. The config is validated first; nothing runs if it has errors.',
    'Writes into output_dir: checkpoint-step-N and checkpoint-epoch-E (loadable model or LoRA adapter folders, with the optimizer state to resume),',
    'events.jsonl (every event of the run) and eval-epoch-E.json (Recall@K on val_data_path after each epoch; epoch 0 is the model before training).',
    'SIGINT/SIGTERM (Ctrl+C) finish the current step, save a checkpoint and exit 0; --resume latest continues from there.',
    'An output_dir holding an earlier run (checkpoints, or a finished run) is refused: continue it with --resume latest, replace it with --overwrite, or set another output_dir.',
    'LoRA adapters name their layers as transformers 5.x does (attention.q_proj/k_proj/v_proj/o_proj; loads in peft on transformers 5);',
    '--set adapter_layout=transformers4 writes the 4.x names (attention.attention.query/key/value, attention.output.dense) for older stacks.',
    "--seeds 42,1,2 trains the config once per seed, each run in output_dir/seed-N, and reports each metric of the runs' last evaluation as mean ± sd (output_dir/seed-sweep.json): one seed is one draw.",
    '--engine torch trains with PyTorch (transformers + peft) in a Python environment, in --num_processes processes; the same data, loss, schedule, checkpoints, evaluation and events (python/README.md).',
  ].join('\n'),
  options: [
    { name: 'config', type: 'string', metavar: 'FILE', required: true, description: 'Training config (YAML).' },
    {
      name: 'set',
      type: 'string[]',
      metavar: 'KEY=VALUE',
      description: 'Override a config key (repeatable), e.g. --set epochs=1.',
    },
    {
      name: 'resume',
      type: 'string',
      metavar: 'latest|DIR',
      description:
        'Continue from the latest checkpoint in output_dir, or from the given checkpoint folder (--set epochs=/max_steps= extend the run).',
    },
    {
      name: 'overwrite',
      type: 'boolean',
      description:
        'Replace an earlier run in output_dir (its checkpoints, events.jsonl and evaluations; other files stay).',
    },
    {
      name: 'seeds',
      type: 'string',
      metavar: 'N,N,...',
      description: 'Train once per seed (each in output_dir/seed-N) and report the spread of the final metrics.',
    },
    ...COMPUTE_OPTIONS,
    ...TORCH_OPTIONS,
  ],
  async run(ctx) {
    if (ctx.args.options.seeds !== undefined) return runSeedSweep(ctx, trainCommand);
    const { args, reporter, signal } = ctx;
    const configFile = args.options.config as string;
    if (args.positionals.length > 0)
      throw new UsageError(`unexpected argument "${args.positionals[0]}" (the config goes after --config)`);
    const sets = (args.options.set as string[] | undefined) ?? [];
    const engineFlag = args.options.engine as string | undefined;
    const loaded = loadConfigFile(configFile, engineFlag ? [...sets, `engine=${engineFlag}`] : sets);
    for (const d of loaded.diagnostics) {
      if (reporter.json) {
        const body = {
          file: configFile,
          code: d.code,
          message: d.message,
          ...(d.range ? { line: d.range.start.line + 1 } : {}),
        };
        reporter.event(d.severity === 'error' ? { type: 'error', ...body } : { type: 'warning', ...body });
      } else process.stderr.write(formatDiagnostic(d, configFile) + '\n');
    }
    if (!loaded.config)
      throw new UserError(
        `${configFile} has errors; nothing was run.`,
        `Fix them (\`vembed validate ${configFile}\`), then train again.`,
        'invalid-config',
        configFile,
      );
    // Before any work: the engine (auto resolved as doctor resolves it); a torch run needs its Python environment
    // (one line saying what to install otherwise).
    const chosen = await trainEngineFrom(loaded.config.engine, args.options);
    const config = { ...loaded.config, engine: chosen.engine };
    const torch = chosen.torch;
    const resume = args.options.resume as string | undefined;
    const overwrite = args.options.overwrite === true;
    if (resume && overwrite)
      throw new UsageError('--resume continues the earlier run and --overwrite replaces it: give one of them.');
    // Before any work: the output folder can be made and written (not under /proc, no file in the way, permissions,
    // space).
    checkWritableDir(config.output_dir);
    const release = acquireRunLock(config.output_dir);
    try {
      if (!resume) makeRoomForRun(config.output_dir, overwrite, configFile, reporter);
    } catch (e) {
      release();
      throw e;
    }
    let backend;
    try {
      backend = await backendFromOptions(args.options, reporter);
    } catch (e) {
      release();
      throw e;
    }
    // TensorBoard's event file beside events.jsonl: `tensorboard --logdir runs/` shows the run.
    const log = new EventLogReporter(reporter, path.join(config.output_dir, EVENTS_FILE), [
      new TensorBoardLog(config.output_dir),
    ]);
    try {
      return await runTraining({
        config,
        configFile,
        reporter: log,
        signal,
        backend,
        cwd: process.cwd(),
        engineChoice: {
          engine: chosen.engine,
          reason: chosen.reason,
          ...(chosen.ignored ? { ignored: chosen.ignored } : {}),
        },
        ...(torch ? { torch } : {}),
        ...(resume ? { resume } : {}),
      });
    } catch (e) {
      // Record the failure in events.jsonl too, then let the CLI print it.
      if (!(e instanceof UserError)) log.event({ type: 'finished', status: 'failed', seconds: 0 });
      throw e;
    } finally {
      log.close();
      release();
    }
  },
};

/**
 * A new run must not silently replace an earlier one's checkpoints and
 * evaluations. An earlier run worth keeping (a checkpoint, or a completed run)
 * is refused unless `--overwrite`; what an attempt that saved nothing left
 * (events of a run that failed early) is cleared, so events.jsonl holds one run.
 */
function makeRoomForRun(outputDir: string, overwrite: boolean, configFile: string, reporter: Reporter): void {
  const previous = findPreviousRun(outputDir);
  if (!previous) return;
  if (isWorthKeeping(previous) && !overwrite) {
    throw new UserError(
      `${outputDir} already holds ${describePreviousRun(previous)}; training again would replace it.`,
      `Continue it with \`vembed train --config ${configFile} --resume latest\` (add --set epochs=N or max_steps=N to extend it), replace it with --overwrite, or set another output_dir.`,
      RUN_EXISTS_ERROR,
      outputDir,
    );
  }
  const removed = clearPreviousRun(outputDir);
  reporter.info(
    `${overwrite ? 'replacing' : 'clearing'} ${describePreviousRun(previous)} in ${outputDir} (${removed} file(s) and folder(s) removed).`,
  );
}
