/** How `prepare-sop` and `prepare-data` end: the summary with the data-health text, leakage, the files written. */
import type { Reporter } from '../../report/reporter';
import { warnLeakage, type HealthOutcome } from '../../run/dataHealthCheck';

export function reportPrepared(
  reporter: Reporter,
  r: { summary: string; health: HealthOutcome; leakage: string; train: string; val: string; startedMs: number },
): number {
  const text = `${r.summary}\n${r.health.text}`;
  if (reporter.json) for (const line of text.split('\n')) reporter.info(line);
  else reporter.result(text);
  if (r.health.leakage) warnLeakage(reporter, r.leakage, r.health.file);
  reporter.event({
    type: 'finished',
    status: 'completed',
    seconds: (Date.now() - r.startedMs) / 1000,
    outputs: { train: r.train, val: r.val, data_health: r.health.file },
  });
  return 0;
}
