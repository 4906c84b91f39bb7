/**
 * Metric names and the before/after comparison, shared by the engine's
 * reports (`vembed benchmark compare`) and the results panel.
 */

/** "recall@10" -> "Recall@10", "map@r" -> "MAP@R"; other names as they are. */
export function metricLabel(name: string): string {
  const recall = /^recall@(\d+)$/i.exec(name);
  if (recall) return `Recall@${recall[1]}`;
  if (/^map@r$/i.test(name)) return 'MAP@R';
  return name;
}

/** Metric order in tables: Recall@K by K, then MAP@R, then the rest by name. */
export function compareMetrics(a: string, b: string): number {
  const rank = (m: string): [number, number, string] => {
    const r = /^recall@(\d+)$/i.exec(m);
    if (r) return [0, Number(r[1]), m];
    if (/^map@r$/i.test(m)) return [1, 0, m];
    return [2, 0, m];
  };
  const [ga, ka, na] = rank(a);
  const [gb, kb, nb] = rank(b);
  return ga - gb || ka - kb || na.localeCompare(nb);
}

export interface ComparisonRow {
  metric: string;
  label: string;
  before?: number;
  after?: number;
  /** after - before, in the metrics' own unit. */
  delta?: number;
}

/** One row per metric either side has, in table order. */
export function comparisonRows(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): ComparisonRow[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort(compareMetrics);
  return names.map((metric) => {
    const b = before[metric];
    const a = after[metric];
    return {
      metric,
      label: metricLabel(metric),
      ...(b !== undefined ? { before: b } : {}),
      ...(a !== undefined ? { after: a } : {}),
      ...(a !== undefined && b !== undefined ? { delta: a - b } : {}),
    };
  });
}
