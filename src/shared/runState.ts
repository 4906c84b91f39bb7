/**
 * A run's state, folded from its events. The status bar, the run history and
 * the results panel all read runs through this one reducer, whether the events
 * arrive live from an engine process or from a finished run's events.jsonl.
 */
import type { ComputeBackendName, EngineEvent, EvaluationEvent } from './protocol';

export type RunStatus = 'starting' | 'running' | 'stopping' | 'completed' | 'stopped' | 'failed';

export interface Point {
  step: number;
  value: number;
}

/** An evaluation as the run keeps it: the event without its envelope. */
export type EvaluationRecord = Omit<EvaluationEvent, 'v' | 'time' | 'type'>;

export interface RunState {
  status: RunStatus;
  command?: string;
  backend?: ComputeBackendName;
  device?: string;
  runDir?: string;
  configFile?: string;
  config?: Record<string, unknown>;
  startedAt?: string;
  totalSteps?: number;
  epochs?: number;
  step: number;
  epoch: number;
  loss?: number;
  lr?: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
  /** Loss and learning rate per step, thinned to at most MAX_POINTS each. */
  lossCurve: Point[];
  lrCurve: Point[];
  /** Every `thin`-th step is kept once the curves grow past MAX_POINTS. */
  thin: number;
  evaluations: EvaluationRecord[];
  checkpoints: { path: string; step: number; epoch: number; kind: string }[];
  warnings: string[];
  error?: { code: string; message: string; hint?: string };
  seconds?: number;
  outputs?: Record<string, string>;
}

/** Curves keep at most this many points: enough for a chart, bounded for a week-long run. */
export const MAX_POINTS = 4000;

export function initialRunState(): RunState {
  return {
    status: 'starting',
    step: 0,
    epoch: 0,
    lossCurve: [],
    lrCurve: [],
    thin: 1,
    evaluations: [],
    checkpoints: [],
    warnings: [],
  };
}

/** Keep every other point (doubling `thin`) when a curve is full. */
function thinned(state: RunState): RunState {
  if (state.lossCurve.length < MAX_POINTS) return state;
  const thin = state.thin * 2;
  const keep = (p: Point) => p.step % thin === 0;
  return { ...state, thin, lossCurve: state.lossCurve.filter(keep), lrCurve: state.lrCurve.filter(keep) };
}

export function reduceRun(state: RunState, e: EngineEvent): RunState {
  switch (e.type) {
    case 'run_started':
      return {
        ...state,
        status: 'running',
        command: e.command,
        backend: e.backend,
        device: e.device,
        startedAt: e.time,
        ...(e.runDir !== undefined ? { runDir: e.runDir } : {}),
        ...(e.configFile !== undefined ? { configFile: e.configFile } : {}),
        ...(e.config !== undefined ? { config: e.config } : {}),
        ...(e.totalSteps !== undefined ? { totalSteps: e.totalSteps } : {}),
        ...(e.epochs !== undefined ? { epochs: e.epochs } : {}),
      };
    case 'step': {
      const base = thinned(state);
      const onCurve = e.step % base.thin === 0;
      return {
        ...base,
        step: e.step,
        epoch: e.epoch,
        loss: e.loss,
        lr: e.lr,
        ...(e.imagesPerSecond !== undefined ? { imagesPerSecond: e.imagesPerSecond } : {}),
        ...(e.etaSeconds !== undefined ? { etaSeconds: e.etaSeconds } : {}),
        // A resumed run repeats no steps, but keep the curves monotonic regardless.
        lossCurve: onCurve
          ? [...base.lossCurve.filter((p) => p.step < e.step), { step: e.step, value: e.loss }]
          : base.lossCurve,
        lrCurve: onCurve
          ? [...base.lrCurve.filter((p) => p.step < e.step), { step: e.step, value: e.lr }]
          : base.lrCurve,
      };
    }
    case 'epoch':
      return { ...state, epoch: e.epoch, step: e.step };
    case 'evaluation': {
      const { v: _v, time: _time, type: _type, ...record } = e;
      const others = state.evaluations.filter((r) => !(r.epoch === e.epoch && r.split === e.split));
      return { ...state, evaluations: [...others, record].sort((a, b) => a.epoch - b.epoch || a.step - b.step) };
    }
    case 'checkpoint':
      return {
        ...state,
        checkpoints: [...state.checkpoints, { path: e.path, step: e.step, epoch: e.epoch, kind: e.kind }],
      };
    case 'warning':
      return { ...state, warnings: [...state.warnings, e.message] };
    case 'error':
      return {
        ...state,
        error: { code: e.code, message: e.message, ...(e.hint !== undefined ? { hint: e.hint } : {}) },
      };
    case 'finished':
      return {
        ...state,
        status: e.status,
        seconds: e.seconds,
        etaSeconds: 0,
        ...(e.outputs !== undefined ? { outputs: e.outputs } : {}),
      };
    case 'progress':
    case 'log':
    case 'seed_spread':
      return state;
  }
}

/** Fold a whole list of events (a finished run's events.jsonl). */
export function foldRun(events: Iterable<EngineEvent>): RunState {
  let s = initialRunState();
  for (const e of events) s = reduceRun(s, e);
  return s;
}

/** The best value of a metric over the run's evaluations (after training, i.e. epoch > 0). */
export function bestMetric(state: RunState, metric = 'recall@1'): number | undefined {
  const values = state.evaluations
    .filter((r) => r.epoch > 0)
    .map((r) => r.metrics[metric])
    .filter((v): v is number => typeof v === 'number');
  return values.length ? Math.max(...values) : undefined;
}

/** A short one-line summary for the status bar and quick picks. */
export function summarizeRun(state: RunState): string {
  const parts: string[] = [state.status];
  if (state.totalSteps) parts.push(`step ${state.step}/${state.totalSteps}`);
  else if (state.step) parts.push(`step ${state.step}`);
  if (state.epochs) parts.push(`epoch ${state.epoch}/${state.epochs}`);
  if (state.loss !== undefined && state.status === 'running') parts.push(`loss ${state.loss.toFixed(3)}`);
  const best = bestMetric(state);
  if (best !== undefined) parts.push(`R@1 ${(best * 100).toFixed(1)}%`);
  return parts.join(' · ');
}
