/**
 * The engine's events in a `vembed ... --json` process's stdout, read as the
 * extension reads them (src/shared/protocol.ts): one JSON event a line,
 * anything else skipped. Shared by the tests that run the engine as a process.
 */
import { parseEventLine, type EngineEvent } from '../../src/shared/protocol';

export function engineEvents(stdout: string): EngineEvent[] {
  return stdout
    .split('\n')
    .map(parseEventLine)
    .flatMap((p) => (p.kind === 'event' ? [p.event] : []));
}

export const errorsOf = (es: EngineEvent[]) =>
  es.filter((e): e is Extract<EngineEvent, { type: 'error' }> => e.type === 'error');

export const warningsOf = (es: EngineEvent[]) =>
  es.filter((e): e is Extract<EngineEvent, { type: 'warning' }> => e.type === 'warning');
