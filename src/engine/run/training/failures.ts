/**
 * What a failed training step means for the user: a non-finite loss or an
 * out-of-memory becomes an `error` event with what to change and the last
 * good checkpoint; an image that stopped reading becomes a UserError naming
 * its records; a stop during evaluation is a stop. Anything else is a bug and
 * is rethrown.
 */
import type { TrainConfig } from '../../../shared/config/schema';
import { UserError } from '../../../shared/userError';
import type { Reporter } from '../../report/reporter';
import type { PairRecord } from '../../data/pairDataset';
import { ImageReadError } from '../../image/decode';
import { NonFiniteTrainingError } from '../../train';

const OUT_OF_MEMORY =
  /out of memory|Array buffer allocation failed|Cannot allocate|memory access out of bounds|Aborted\(/i;

export interface FailureContext {
  config: TrainConfig;
  reporter: Reporter;
  signal: AbortSignal;
  /** The step that failed is `globalStep + 1`. */
  globalStep: number;
  lastCheckpoint: string | undefined;
  records: readonly PairRecord[];
}

/** The run's status after `error`, having reported it; throws what the CLI must print itself. */
export function classifyFailure(error: unknown, ctx: FailureContext): 'failed' | 'stopped' {
  const { config, reporter, globalStep, lastCheckpoint } = ctx;
  const e = error as Error;
  if (e instanceof NonFiniteTrainingError) {
    reporter.event({
      type: 'error',
      code: 'non-finite-loss',
      message: e.message,
      hint: `The last good checkpoint is ${lastCheckpoint ?? 'none (no checkpoint was saved yet)'}.`,
    });
    return 'failed';
  }
  if (OUT_OF_MEMORY.test(e.message ?? '')) {
    reporter.event({
      type: 'error',
      code: 'out-of-memory',
      message: `out of memory at step ${globalStep + 1}: ${e.message.split('\n')[0]}`,
      hint: `Use a smaller gradient_cache_chunk_size (now ${config.gradient_cache_chunk_size}${config.use_gradient_cache ? '' : '; or turn on use_gradient_cache'}), eval_batch_size or image_size. The last checkpoint is ${lastCheckpoint ?? 'none'}.`,
    });
    return 'failed';
  }
  if (e instanceof ImageReadError) {
    // An image that decoded before and fails now (changed on disk during the run): name its records.
    const users = ctx.records.filter((r) => r.query === e.path || r.positive === e.path);
    const where = users
      .slice(0, 3)
      .map((r) => `${r.file}:${r.line}`)
      .join(', ');
    throw new UserError(
      `${where || e.path}: cannot read image ${e.path} at step ${globalStep + 1}: ${e.reason}`,
      `Fix the image, then continue with --resume latest (the last checkpoint is ${lastCheckpoint ?? 'none'}).`,
      'bad-data',
      users[0]?.file,
      users[0]?.line,
    );
  }
  if (ctx.signal.aborted && e.name === 'EmbeddingAborted') return 'stopped';
  throw error;
}
