/**
 * The engine's event protocol: what `vembed ... --json` writes to stdout, one
 * JSON object a line, and what the extension and the results panel read.
 *
 * Versioned: every event carries `v`. A reader accepts events of its own major
 * version and ignores unknown event types (so the engine may add types without
 * breaking older panels), but rejects lines that are not events.
 */

import type { MetricSpread } from './analysis/spread';

export const PROTOCOL_VERSION = 1;

/** Compute backends, best first (see src/engine/backend). */
export type BackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
export const BACKEND_LADDER: readonly BackendName[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];
/** ONNX Runtime with an execution provider: runs inference (embedding, evaluation, search), not training. */
export type OnnxBackendName = 'onnx-cpu' | 'onnx-webgpu' | 'onnx-cuda' | 'onnx-dml';
export const ONNX_BACKENDS: readonly OnnxBackendName[] = ['onnx-cpu', 'onnx-webgpu', 'onnx-cuda', 'onnx-dml'];
/** What a run computes on, as its run_started event names it. */
export type ComputeBackendName = BackendName | OnnxBackendName | 'torch';

/** Metric names as in the reports: `recall@1`, `recall@10`, ..., `map@r`. */
export type Metrics = Record<string, number>;

interface Base {
  v: typeof PROTOCOL_VERSION;
  /** ISO-8601 time the engine wrote the event. */
  time: string;
}

export interface RunStartedEvent extends Base {
  type: 'run_started';
  command: string;
  backend: ComputeBackendName;
  /** Human description of the device, e.g. "wasm (1 thread, SIMD)" or "NVIDIA H100". */
  device: string;
  runDir?: string;
  /** The config file the run was started from (Resume starts it again from there). */
  configFile?: string;
  /** The fully resolved config, when the command has one. */
  config?: Record<string, unknown>;
  totalSteps?: number;
  epochs?: number;
  resumedFrom?: string;
}

export interface StepEvent extends Base {
  type: 'step';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  gradNorm?: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
}

export interface EpochEvent extends Base {
  type: 'epoch';
  epoch: number;
  step: number;
  meanLoss: number;
  seconds: number;
}

export interface EvaluationEvent extends Base {
  type: 'evaluation';
  /** 0 = before training. */
  epoch: number;
  step: number;
  split: string;
  metrics: Metrics;
  numImages: number;
  numValidQueries: number;
  reportPath?: string;
}

export interface CheckpointEvent extends Base {
  type: 'checkpoint';
  path: string;
  step: number;
  epoch: number;
  kind: 'step' | 'epoch' | 'stop' | 'final';
}

/** Progress of a bounded task (download, preparation, embedding). */
export interface ProgressEvent extends Base {
  type: 'progress';
  task: string;
  done: number;
  total?: number;
  unit?: string;
  message?: string;
}

export interface LogEvent extends Base {
  type: 'log';
  level: 'debug' | 'info';
  message: string;
}

export interface WarningEvent extends Base {
  type: 'warning';
  code?: string;
  message: string;
  file?: string;
  line?: number;
}

/**
 * The error code of `vembed train` refusing an output_dir that holds an earlier
 * run; the extension answers it by asking to resume or overwrite.
 */
export const RUN_EXISTS_ERROR = 'run-exists';

export interface ErrorEvent extends Base {
  type: 'error';
  code: string;
  message: string;
  /** What the user can do about it. */
  hint?: string;
  file?: string;
  line?: number;
}

export interface FinishedEvent extends Base {
  type: 'finished';
  status: 'completed' | 'stopped' | 'failed';
  seconds: number;
  lastCheckpoint?: string;
  /** Files the command produced that a reader may open (reports, indexes). */
  outputs?: Record<string, string>;
}

/**
 * The end of a seed sweep (`vembed train --seeds`): each metric's spread over
 * the runs' final evaluations. Also written as `seed-sweep.json`
 * (src/shared/artifacts/seedSweepFile.ts) in the sweep folder.
 */
export interface SeedSpreadEvent extends Base {
  type: 'seed_spread';
  seeds: number[];
  /** The seeds whose run completed with an evaluation: the spread is over these. */
  completedSeeds: number[];
  spread: MetricSpread[];
  summaryFile: string;
}

export type EngineEvent =
  | RunStartedEvent
  | StepEvent
  | EpochEvent
  | EvaluationEvent
  | CheckpointEvent
  | ProgressEvent
  | LogEvent
  | WarningEvent
  | ErrorEvent
  | FinishedEvent
  | SeedSpreadEvent;

export type EventType = EngineEvent['type'];

/** An event without the envelope, as emitters build it. */
export type EventBody = EngineEvent extends infer E ? (E extends EngineEvent ? Omit<E, 'v' | 'time'> : never) : never;

const KNOWN_TYPES: ReadonlySet<string> = new Set<EventType>([
  'run_started',
  'step',
  'epoch',
  'evaluation',
  'checkpoint',
  'progress',
  'log',
  'warning',
  'error',
  'finished',
  'seed_spread',
]);

/** Add the envelope. */
export function makeEvent(body: EventBody, now: Date = new Date()): EngineEvent {
  return { v: PROTOCOL_VERSION, time: now.toISOString(), ...body } as EngineEvent;
}

export function serializeEvent(e: EngineEvent): string {
  return JSON.stringify(e);
}

export type ParsedLine =
  | { kind: 'event'; event: EngineEvent }
  | { kind: 'unknown-event'; type: string }
  | { kind: 'not-an-event'; line: string; reason: string };

/**
 * Read one line of engine output. Lines that are not JSON events (a stray
 * library message on stdout, say) come back as `not-an-event` instead of
 * throwing, so a reader can log them and carry on.
 */
export function parseEventLine(line: string): ParsedLine {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return { kind: 'not-an-event', line, reason: 'not JSON' };
  let obj: unknown;
  try {
    obj = JSON.parse(trimmed);
  } catch {
    return { kind: 'not-an-event', line, reason: 'malformed JSON' };
  }
  if (typeof obj !== 'object' || obj === null) return { kind: 'not-an-event', line, reason: 'not an object' };
  const rec = obj as Record<string, unknown>;
  if (typeof rec.v !== 'number' || Math.floor(rec.v) !== PROTOCOL_VERSION) {
    return { kind: 'not-an-event', line, reason: `protocol version ${String(rec.v)}, expected ${PROTOCOL_VERSION}` };
  }
  if (typeof rec.type !== 'string') return { kind: 'not-an-event', line, reason: 'no type' };
  if (!KNOWN_TYPES.has(rec.type)) return { kind: 'unknown-event', type: rec.type };
  return { kind: 'event', event: rec as unknown as EngineEvent };
}

/** Splits a stream of chunks into lines; keeps the unfinished tail for the next chunk. */
export class LineSplitter {
  private tail = '';
  push(chunk: string): string[] {
    const text = this.tail + chunk;
    const lines = text.split(/\r?\n/);
    this.tail = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }
  /** The unterminated last line, if any, at the end of the stream. */
  end(): string[] {
    const t = this.tail;
    this.tail = '';
    return t.length > 0 ? [t] : [];
  }
}
