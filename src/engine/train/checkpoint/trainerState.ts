/**
 * The trainer's state in a checkpoint (`trainer_state.json`): where the run
 * is and what it needs to continue exactly. The model's weights and the
 * optimizer's moments are separate files next to it.
 */

export const TRAINER_STATE_FILE = 'trainer_state.json';
const FORMAT = 'vembed-trainer-state';
const FORMAT_VERSION = 1;

/** Entries of the loss history kept in a checkpoint (the events file has all of them). */
export const LOSS_HISTORY_TAIL = 200;

export interface LossRecord {
  step: number;
  loss: number;
  lr: number;
  gradNorm?: number;
}

export interface TrainerState {
  /** Optimizer updates applied so far; checkpoint-step-N holds N. */
  globalStep: number;
  /** 0-based index of the epoch the run is in (after epoch E's end: E, position 0). */
  epoch: number;
  /** Records of that epoch's shuffled order already trained on. */
  positionInEpoch: number;
  /** Optimizer steps the whole run was planned for (the schedule depends on it). */
  totalSteps: number;
  /** States of the run's random generators by purpose (Rng.getState()), e.g. `shuffle`, `augment`. */
  rngStates: Record<string, number>;
  /** configHash() of the run's resolved config. */
  configHash: string;
  /** The last LOSS_HISTORY_TAIL steps. */
  lossHistory: LossRecord[];
  /** ISO time the checkpoint was written. */
  savedAt: string;
}

/** What is written: the state plus the sizes of the checkpoint's other files, to detect incomplete folders. */
export interface TrainerStateFile extends TrainerState {
  files: Record<string, number>;
}

/** `history` with `record` appended, trimmed to the last `max` entries. */
export function appendLossHistory(
  history: readonly LossRecord[],
  record: LossRecord,
  max = LOSS_HISTORY_TAIL,
): LossRecord[] {
  const out = [...history, record];
  return out.length > max ? out.slice(out.length - max) : out;
}

export function serializeTrainerState(state: TrainerStateFile): string {
  const json = {
    format: FORMAT,
    format_version: FORMAT_VERSION,
    global_step: state.globalStep,
    epoch: state.epoch,
    position_in_epoch: state.positionInEpoch,
    total_steps: state.totalSteps,
    rng_states: state.rngStates,
    config_hash: state.configHash,
    saved_at: state.savedAt,
    loss_history: state.lossHistory.map((r) => ({
      step: r.step,
      loss: r.loss,
      lr: r.lr,
      ...(r.gradNorm !== undefined ? { grad_norm: r.gradNorm } : {}),
    })),
    files: state.files,
  };
  return JSON.stringify(json, null, 1) + '\n';
}

export class TrainerStateError extends Error {
  override readonly name = 'TrainerStateError';
}

/** Parse and check a trainer_state.json; errors name the file and the key. */
export function parseTrainerState(text: string, file: string): TrainerStateFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TrainerStateError(`${file}: not valid JSON (${(e as Error).message}); the checkpoint is damaged.`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new TrainerStateError(`${file}: expected a JSON object.`);
  const o = raw as Record<string, unknown>;
  const fail = (key: string, what: string): never => {
    throw new TrainerStateError(`${file}: "${key}" must be ${what}, got ${JSON.stringify(o[key])}.`);
  };
  const count = (key: string): number => {
    const v = o[key];
    return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(key, 'an integer >= 0');
  };
  if (o.format !== FORMAT) fail('format', `"${FORMAT}" (this is not a vembed checkpoint)`);
  if (o.format_version !== FORMAT_VERSION) {
    fail(
      'format_version',
      `${FORMAT_VERSION} (written by another version of vembed; update vembed or start a new run)`,
    );
  }
  const rngStates = o.rng_states;
  if (
    rngStates === null ||
    typeof rngStates !== 'object' ||
    Array.isArray(rngStates) ||
    !Object.values(rngStates).every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff)
  ) {
    fail('rng_states', 'an object of unsigned 32-bit integers');
  }
  const files = o.files;
  if (
    files === null ||
    typeof files !== 'object' ||
    Array.isArray(files) ||
    !Object.values(files).every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)
  ) {
    fail('files', 'an object of file sizes');
  }
  if (typeof o.config_hash !== 'string') fail('config_hash', 'a string');
  if (typeof o.saved_at !== 'string') fail('saved_at', 'a string');
  const history = o.loss_history;
  if (!Array.isArray(history)) fail('loss_history', 'a list');
  const lossHistory = (history as unknown[]).map((r, i): LossRecord => {
    const e = r as Record<string, unknown>;
    const ok =
      e !== null &&
      typeof e === 'object' &&
      typeof e.step === 'number' &&
      typeof e.loss === 'number' &&
      typeof e.lr === 'number' &&
      (e.grad_norm === undefined || typeof e.grad_norm === 'number');
    if (!ok)
      throw new TrainerStateError(
        `${file}: "loss_history[${i}]" must be {step, loss, lr[, grad_norm]}, got ${JSON.stringify(r)}.`,
      );
    return {
      step: e.step as number,
      loss: e.loss as number,
      lr: e.lr as number,
      ...(e.grad_norm !== undefined ? { gradNorm: e.grad_norm as number } : {}),
    };
  });
  return {
    globalStep: count('global_step'),
    epoch: count('epoch'),
    positionInEpoch: count('position_in_epoch'),
    totalSteps: count('total_steps'),
    rngStates: { ...(rngStates as Record<string, number>) },
    configHash: o.config_hash as string,
    lossHistory,
    savedAt: o.saved_at as string,
    files: { ...(files as Record<string, number>) },
  };
}
