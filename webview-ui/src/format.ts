/** Number and time formatting for the panel (no DOM). */

/** 0.5501 -> "55.01%". */
export function percent(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)}%`;
}

/** A difference of two fractions in percentage points, signed: 0.2948 -> "+29.48". */
export function points(delta: number | undefined, digits = 2): string {
  if (delta === undefined || !Number.isFinite(delta)) return '–';
  const p = delta * 100;
  const s = p.toFixed(digits);
  return p > 0 && Number(s) !== 0 ? `+${s}` : Number(s) === 0 ? (0).toFixed(digits) : s;
}

/** Seconds as "42s", "3m 05s", "1h 02m", "2d 3h". */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** A loss value: four significant digits, no exponent for ordinary values. */
export function lossValue(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? Number(v.toPrecision(4)).toString() : v.toExponential(3);
}

/** A learning rate: 5e-5 -> "5.00e-5". */
export function lrValue(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  return v === 0 ? '0' : v.toExponential(2).replace('e+', 'e');
}

export function integer(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : Math.round(v).toLocaleString('en-US');
}

/** A cosine similarity, three decimals. */
export function score(v: number): string {
  return v.toFixed(3);
}

export { compareMetrics, metricLabel } from '../../src/shared/metrics';

/** Last path segment, for compact labels (works for / and \ paths). */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((s) => s.length > 0);
  return parts[parts.length - 1] ?? p;
}
