/**
 * How engine code talks to whoever runs it: protocol events (progress,
 * metrics, warnings) and human text. The CLI prints them (cli/reporter.ts),
 * a training run also appends them to its event log (run/eventLog.ts).
 */
import type { EventBody } from '../../shared/protocol';

export interface Reporter {
  readonly json: boolean;
  /** Emit a protocol event (printed as text in human mode). */
  event(body: EventBody): void;
  /** Human-oriented text: stdout in human mode, a `log` event in JSON mode. */
  info(message: string): void;
  warn(message: string, code?: string): void;
  /** The data a command produces (a table, a report) printed as is in human mode. */
  result(text: string): void;
}
