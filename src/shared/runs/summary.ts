/**
 * One run in a line: what the Runs view shows, what `vembed compare` and the
 * compare page set side by side. Built from the run folder alone (./runFolder),
 * so a terminal run, a run of another window and one of ours read the same.
 */
import * as path from 'node:path';
import type { Metrics } from '../protocol';
import type { EvaluationRecord } from '../runState';
import { readRun, type RunOnDisk } from './runFolder';

/** What the user is told about a run. */
export type RunPhase = 'running' | 'finished' | 'stopped' | 'failed';

export interface EpochValue {
  epoch: number;
  value: number;
}

export interface RunSummary {
  dir: string;
  status: RunPhase;
  command?: string;
  /** The compute backend the run named (onnx-cpu, wasm, ...), and its device line. */
  backend?: string;
  device?: string;
  startedAt?: string;
  /** Seconds from start to finish; for a run without a `finished` event, to its last event. */
  durationSeconds?: number;
  /** Epochs finished, and planned. */
  epochsDone: number;
  epochsTotal?: number;
  /** The best Recall@1 after training (epoch > 0), and the epoch that reached it. */
  bestRecall1?: number;
  bestEpoch?: number;
  /** The evaluations of the split the run evaluated last (epoch 0 = before training). */
  evaluations: EvaluationRecord[];
  /** Metrics of the model before training (epoch 0) and after the last evaluated epoch. */
  before?: Metrics;
  after?: Metrics;
  lossPerEpoch: EpochValue[];
  recall1PerEpoch: EpochValue[];
  checkpoints: { path: string; step: number; epoch: number; kind: string }[];
  configFile?: string;
  config?: Record<string, unknown>;
  error?: string;
}

const PHASE: Record<string, RunPhase> = {
  starting: 'running',
  running: 'running',
  stopping: 'running',
  completed: 'finished',
  stopped: 'stopped',
  failed: 'failed',
};

export function summarizeRunOnDisk(run: RunOnDisk): RunSummary {
  const s = run.state;
  const split = s.evaluations[s.evaluations.length - 1]?.split;
  const evaluations = s.evaluations.filter((e) => e.split === split);
  const trained = evaluations.filter((e) => e.epoch > 0);
  let best: EvaluationRecord | undefined;
  for (const e of trained) {
    const r1 = e.metrics['recall@1'];
    if (typeof r1 === 'number' && (best === undefined || r1 > best.metrics['recall@1']!)) best = e;
  }
  const before = evaluations.find((e) => e.epoch === 0)?.metrics;
  const after = trained[trained.length - 1]?.metrics;
  const start = s.startedAt ? Date.parse(s.startedAt) : NaN;
  const end = run.lastEventTime ? Date.parse(run.lastEventTime) : NaN;
  const duration = s.seconds ?? (Number.isFinite(start) && Number.isFinite(end) ? (end - start) / 1000 : undefined);
  const epochsDone = Math.max(0, ...run.epochLosses.map((p) => p.epoch), ...trained.map((e) => e.epoch));
  return {
    dir: run.dir,
    status: run.running ? 'running' : (PHASE[s.status] ?? 'stopped'),
    ...(s.command ? { command: s.command } : {}),
    ...(s.backend ? { backend: s.backend } : {}),
    ...(s.device ? { device: s.device } : {}),
    ...(s.startedAt ? { startedAt: s.startedAt } : {}),
    ...(duration !== undefined ? { durationSeconds: duration } : {}),
    epochsDone,
    ...(s.epochs !== undefined ? { epochsTotal: s.epochs } : {}),
    ...(best ? { bestRecall1: best.metrics['recall@1']!, bestEpoch: best.epoch } : {}),
    evaluations,
    ...(before ? { before } : {}),
    ...(after ? { after } : {}),
    lossPerEpoch: run.epochLosses,
    recall1PerEpoch: evaluations
      .filter((e) => typeof e.metrics['recall@1'] === 'number')
      .map((e) => ({ epoch: e.epoch, value: e.metrics['recall@1']! })),
    checkpoints: s.checkpoints.map((c) => ({ ...c, path: path.resolve(run.dir, c.path) })),
    ...(s.configFile ? { configFile: s.configFile } : {}),
    ...(s.config ? { config: s.config } : {}),
    ...(s.error ? { error: s.error.message } : {}),
  };
}

/** The summary of the run in `dir`, or undefined when it holds no events.jsonl. */
export function readRunSummary(dir: string): RunSummary | undefined {
  const run = readRun(dir);
  return run ? summarizeRunOnDisk(run) : undefined;
}

/** "4 s", "2.5 min", "1.2 h". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** "17.6%", or "–" when there is no value. */
export function formatPercent(value: number | undefined): string {
  return value === undefined ? '–' : `${(value * 100).toFixed(1)}%`;
}

/** One line for lists: "finished · R@1 17.6% (epoch 5) · 5/5 epochs · onnx-cpu · 2.5 min". */
export function describeRun(r: RunSummary): string {
  const parts: string[] = [r.status];
  if (r.bestRecall1 !== undefined) parts.push(`R@1 ${formatPercent(r.bestRecall1)}`);
  if (r.epochsTotal !== undefined || r.epochsDone > 0)
    parts.push(`${r.epochsDone}${r.epochsTotal !== undefined ? `/${r.epochsTotal}` : ''} epochs`);
  if (r.backend) parts.push(r.backend);
  if (r.durationSeconds !== undefined) parts.push(formatDuration(r.durationSeconds));
  return parts.join(' · ');
}
