/**
 * The engine flags a training run gets from the settings (`vembed.training.engine`,
 * `vembed.training.numProcesses`, `vembed.pythonPath`) or from a one-off choice
 * ("Train with..."). Kept free of `vscode` so that tests call it as the
 * extension does.
 */

export const ENGINE_SETTING_VALUES = ['auto', 'onnx', 'torch'] as const;
export type EngineSettingValue = (typeof ENGINE_SETTING_VALUES)[number];

export interface TrainingSettings {
  /** `auto`: no flag, the config's `engine` key decides; `onnx` / `torch`: `--engine`, over the config. */
  engine: EngineSettingValue;
  /** Processes of the PyTorch engine (`--num_processes`); a run that is or may be a torch run gets it. */
  numProcesses: number;
  /** `--python` (empty: the engine finds one, see `vembed doctor`). */
  pythonPath: string;
}

/** What "Train with..." picked for one run; unset fields fall back to the settings. */
export interface TrainChoice {
  engine?: EngineSettingValue;
  numProcesses?: number;
}

/** The most processes a run may ask for (the setting's maximum in package.json). */
export const MAX_PROCESSES = 256;

/** Whole number of processes from 1 to MAX_PROCESSES, or a message saying what is wrong (the "Other..." input box). */
export function processCountProblem(text: string): string | undefined {
  const t = text.trim();
  return /^[1-9][0-9]*$/.test(t) && Number(t) <= MAX_PROCESSES
    ? undefined
    : `A whole number from 1 to ${MAX_PROCESSES}`;
}

/** Settings as read from VS Code, made safe: unknown engines read as auto, process counts as whole numbers >= 1. */
export function normaliseTrainingSettings(raw: {
  engine?: unknown;
  numProcesses?: unknown;
  pythonPath?: unknown;
}): TrainingSettings {
  const engine = (ENGINE_SETTING_VALUES as readonly unknown[]).includes(raw.engine)
    ? (raw.engine as EngineSettingValue)
    : 'auto';
  const n = Number(raw.numProcesses);
  return {
    engine,
    numProcesses: Number.isInteger(n) && n >= 1 && n <= MAX_PROCESSES ? n : 1,
    pythonPath: typeof raw.pythonPath === 'string' ? raw.pythonPath.trim() : '',
  };
}

/**
 * `vembed train` flags: `--engine` when the engine is named (not auto),
 * `--num_processes` when the run is a torch run (named, or the config's
 * `engine: torch`) or may be one (the setting and the config both auto: the
 * engine applies it when auto picks torch and says once that it is ignored
 * when auto picks onnx; passed then only when it is not the default 1),
 * `--python` when set. A run named onnx gets no `--num_processes` (the engine
 * refuses it there).
 */
export function trainingFlags(settings: TrainingSettings, configEngine: unknown, choice: TrainChoice = {}): string[] {
  const engine = choice.engine ?? settings.engine;
  const n = choice.numProcesses ?? settings.numProcesses;
  const torchRun = engine === 'torch' || (engine === 'auto' && configEngine === 'torch');
  const maybeTorch = engine === 'auto' && configEngine !== 'onnx' && n !== 1;
  return [
    ...(engine !== 'auto' ? ['--engine', engine] : []),
    ...(torchRun || maybeTorch ? ['--num_processes', String(n)] : []),
    ...pythonFlags(settings),
  ];
}

/** `--python PATH` for the commands that run the PyTorch engine's Python (train, doctor). */
export function pythonFlags(settings: Pick<TrainingSettings, 'pythonPath'>): string[] {
  return settings.pythonPath ? ['--python', settings.pythonPath] : [];
}
