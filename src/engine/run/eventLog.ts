/**
 * A reporter that also appends every event to `<output_dir>/events.jsonl`, so
 * a finished or interrupted run can be reopened (run history, results panel)
 * with exactly what a live follower saw; and hands each event to the run's
 * other logs (TensorBoard's event file), so they follow the same events.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirs } from '../../shared/fs/makeDirs';
import { makeEvent, serializeEvent, type EngineEvent, type EventBody } from '../../shared/protocol';
import type { Reporter } from '../report/reporter';

import { EVENTS_FILE } from '../../shared/runs/runFolder';
export { EVENTS_FILE };

/** Another record of a run's events (run/tensorboardLog.ts). */
export interface EventSink {
  write(e: EngineEvent): void;
  close(): void;
}

export class EventLogReporter implements Reporter {
  private readonly fd: number;

  constructor(
    private readonly inner: Reporter,
    readonly file: string,
    private readonly sinks: readonly EventSink[] = [],
  ) {
    makeDirs(path.dirname(file));
    this.fd = fs.openSync(file, 'a');
  }

  get json(): boolean {
    return this.inner.json;
  }

  event(body: EventBody): void {
    // One write per line: an append of a whole line is never interleaved or torn by a kill.
    const e = makeEvent(body);
    fs.writeSync(this.fd, serializeEvent(e) + '\n');
    for (const sink of this.sinks) sink.write(e);
    this.inner.event(body);
  }

  info(message: string): void {
    if (this.inner.json) this.event({ type: 'log', level: 'info', message });
    else this.inner.info(message);
  }

  warn(message: string, code?: string): void {
    this.event({ type: 'warning', message, ...(code ? { code } : {}) });
  }

  result(text: string): void {
    this.inner.result(text);
  }

  close(): void {
    for (const sink of this.sinks) sink.close();
    fs.closeSync(this.fd);
  }
}
