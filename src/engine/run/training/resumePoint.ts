/** Where a resumed run starts: `--resume latest` or a named checkpoint folder. */
import * as path from 'node:path';
import type { TrainConfig } from '../../../shared/config/schema';
import { UserError } from '../../../shared/userError';
import type { Reporter } from '../../report/reporter';
import { configHash, findLatestCheckpoint, loadCheckpoint, type LoadedCheckpoint } from '../../train';

/** The checkpoint to resume from; undefined when the run starts fresh. */
export function resumePoint(
  resume: string | undefined,
  config: TrainConfig,
  cwd: string,
  reporter: Reporter,
): LoadedCheckpoint | undefined {
  if (!resume) return undefined;
  const outputDir = config.output_dir;
  const dir = resume === 'latest' ? findLatestCheckpoint(outputDir)?.dir : path.resolve(cwd, resume);
  if (!dir)
    throw new UserError(
      `no complete checkpoint in ${outputDir} to resume from`,
      'Train without --resume, or name a checkpoint folder.',
      'no-checkpoint',
    );
  const checkpoint = loadCheckpoint(dir);
  if (checkpoint.trainerState.configHash !== configHash(config))
    reporter.warn(
      `the config differs from the one ${path.basename(dir)} was trained with; resuming anyway with the current config.`,
      'config-changed',
    );
  return checkpoint;
}
