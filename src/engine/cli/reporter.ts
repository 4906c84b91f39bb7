/**
 * How a command talks to its caller. With `--json` every event is one JSON
 * line on stdout (the protocol in src/shared/protocol.ts) and nothing else is
 * written there; without it, events become human-readable lines.
 */
import type { Reporter } from '../report/reporter';
import { makeEvent, serializeEvent, type EngineEvent, type EventBody } from '../../shared/protocol';
import { printable } from '../../shared/text/printable';

type Write = (s: string) => void;

/** Human-mode progress lines per task at most this often (the last one always prints). */
const PROGRESS_INTERVAL_MS = 2000;

export class StreamReporter implements Reporter {
  private readonly progressShown = new Map<string, number>();

  private readonly out: Write;
  private readonly err: Write;

  /** Human-readable text goes through printable(): messages quote file contents, which may hold control bytes. */
  constructor(
    readonly json: boolean,
    out: Write = (s) => process.stdout.write(s),
    err: Write = (s) => process.stderr.write(s),
  ) {
    this.out = json ? out : (s) => out(printable(s));
    this.err = json ? err : (s) => err(printable(s));
  }

  event(body: EventBody): void {
    const e = makeEvent(body);
    if (this.json) this.out(serializeEvent(e) + '\n');
    else this.printHuman(e);
  }

  info(message: string): void {
    if (this.json) this.event({ type: 'log', level: 'info', message });
    else this.out(message + '\n');
  }

  warn(message: string, code?: string): void {
    this.event({ type: 'warning', message, ...(code ? { code } : {}) });
  }

  result(text: string): void {
    if (!this.json) this.out(text.endsWith('\n') ? text : text + '\n');
  }

  private printHuman(e: EngineEvent): void {
    switch (e.type) {
      case 'run_started':
        this.out(
          `${e.command}: backend ${e.backend} (${e.device})${e.runDir ? `, output ${e.runDir}` : ''}${e.resumedFrom ? `, resumed from ${e.resumedFrom}` : ''}\n`,
        );
        break;
      case 'step':
        this.out(
          `epoch ${e.epoch} step ${e.step}: loss ${e.loss.toFixed(4)} lr ${e.lr.toExponential(2)}` +
            (e.imagesPerSecond !== undefined ? `, ${e.imagesPerSecond.toFixed(1)} img/s` : '') +
            (e.etaSeconds !== undefined ? `, ETA ${formatDuration(e.etaSeconds)}` : '') +
            '\n',
        );
        break;
      case 'epoch':
        this.out(`epoch ${e.epoch} done: mean loss ${e.meanLoss.toFixed(4)} in ${formatDuration(e.seconds)}\n`);
        break;
      case 'evaluation': {
        const m = Object.entries(e.metrics)
          .map(([k, v]) => `${k} ${(v * 100).toFixed(2)}%`)
          .join(', ');
        const when = e.split === 'val' ? `, ${e.epoch === 0 ? 'before training' : `epoch ${e.epoch}`}` : '';
        this.out(`evaluation (${e.split}${when}): ${m} over ${e.numValidQueries} queries\n`);
        break;
      }
      case 'checkpoint':
        this.out(`saved ${e.path}\n`);
        break;
      case 'progress': {
        const now = Date.now();
        const last = this.progressShown.get(e.task);
        const finished = e.total !== undefined && e.done >= e.total;
        if (!finished && last !== undefined && now - last < PROGRESS_INTERVAL_MS) break;
        this.progressShown.set(e.task, now);
        this.err(
          `${e.task}: ${e.done}${e.total !== undefined ? `/${e.total}` : ''}${e.unit ? ` ${e.unit}` : ''}${e.message ? ` ${e.message}` : ''}\n`,
        );
        break;
      }
      case 'log':
        this.out(e.message + '\n');
        break;
      case 'warning':
        this.err(`${e.file ? `${e.file}${e.line ? `:${e.line}` : ''}: ` : ''}warning: ${e.message}\n`);
        break;
      case 'error':
        this.err(
          `${e.file ? `${e.file}${e.line ? `:${e.line}` : ''}: ` : ''}error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`,
        );
        break;
      case 'finished':
        this.out(
          `${e.status} in ${formatDuration(e.seconds)}${e.lastCheckpoint ? `; last checkpoint ${e.lastCheckpoint}` : ''}\n`,
        );
        break;
    }
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
