/**
 * Run the project's own trainer the way a user does: `vembed train --config
 * FILE --json`, from the TypeScript sources (through tsx, so the result never
 * depends on a stale dist/ bundle), and collect what its JSON events report.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { stringify } from 'yaml';

export const REPO_ROOT = path.resolve(__dirname, '../..');
const CLI_ENTRY = path.join(REPO_ROOT, 'src/engine/cli/bin.ts');

export interface Evaluation {
  epoch: number;
  step: number;
  metrics: Record<string, number>;
}

export interface TrainOutcome {
  status: string;
  seconds: number;
  steps: number;
  /** Mean training loss of each epoch, in order. */
  epochLosses: number[];
  firstLoss: number | undefined;
  lastLoss: number | undefined;
  evaluations: Evaluation[];
  lastCheckpoint: string | undefined;
  device: string | undefined;
  /** The trainer's own summary line of the model (layers, parameters, steps). */
  modelLine: string | undefined;
}

/** Write a training config as YAML, with a comment on top saying who made it. */
export function yamlText(config: Record<string, unknown>, header: string): string {
  return header
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .join('\n')
    .concat('\n', stringify(config));
}

interface Event {
  type: string;
  [k: string]: unknown;
}

/**
 * Train with `configFile` (paths in it relative to the repository root).
 * `onEvent` sees every event, e.g. to print progress.
 */
export function runTrainCli(
  configFile: string,
  options: { backend?: string; onEvent?: (e: Event) => void } = {},
): Promise<TrainOutcome> {
  const args = [
    '--import',
    require.resolve('tsx'),
    CLI_ENTRY,
    'train',
    '--config',
    configFile,
    '--json',
    ...(options.backend ? ['--backend', options.backend] : []),
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: TrainOutcome = {
    status: 'unknown',
    seconds: 0,
    steps: 0,
    epochLosses: [],
    firstLoss: undefined,
    lastLoss: undefined,
    evaluations: [],
    lastCheckpoint: undefined,
    device: undefined,
    modelLine: undefined,
  };
  const errors: string[] = [];
  let stderrTail = '';
  let pending = '';
  const handle = (line: string) => {
    if (!line.trim()) return;
    let e: Event;
    try {
      e = JSON.parse(line) as Event;
    } catch {
      stderrTail = (stderrTail + line + '\n').slice(-4000);
      return;
    }
    switch (e.type) {
      case 'run_started':
        out.device = `${String(e.backend)}, ${String(e.device)}`;
        break;
      case 'log':
        if (typeof e.message === 'string' && e.message.startsWith('model ')) out.modelLine = e.message;
        break;
      case 'step':
        out.steps = e.step as number;
        out.firstLoss ??= e.loss as number;
        out.lastLoss = e.loss as number;
        break;
      case 'epoch':
        out.epochLosses.push(e.meanLoss as number);
        break;
      case 'evaluation':
        out.evaluations.push({
          epoch: e.epoch as number,
          step: e.step as number,
          metrics: e.metrics as Record<string, number>,
        });
        break;
      case 'error':
        errors.push(`${String(e.message)}${e.hint ? ` (${String(e.hint)})` : ''}`);
        break;
      case 'finished':
        out.status = e.status as string;
        out.seconds = e.seconds as number;
        out.lastCheckpoint = e.lastCheckpoint as string | undefined;
        break;
    }
    options.onEvent?.(e);
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    lines.forEach(handle);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      handle(pending);
      if (code === 0 && out.status === 'completed') resolve(out);
      else
        reject(
          new Error(
            `vembed train --config ${configFile} exited with ${code} (status ${out.status})${errors.length ? `: ${errors.join('; ')}` : ''}\n${stderrTail}`,
          ),
        );
    });
  });
}
