/**
 * What the views show, derived from the model: chart series, table rows, the
 * gallery page and the neighbour list. Pure, so the numbers on screen are
 * tested without a browser.
 */
import type { GalleryData, PanelMessage } from '../../src/shared/panelProtocol';
import type { EvaluationRecord, RunState } from '../../src/shared/runState';
import { baseName, compareMetrics, metricLabel } from './format';
import { comparisonRows, type ComparisonRow } from '../../src/shared/metrics';
import { PAGE_SIZE, filteredQueries, neighboursOf, pageCount, type PanelModel } from './state';
import { specOf } from '../../src/shared/config/schema';

// ---------------------------------------------------------------------------
// Curves

export interface StepSeries {
  steps: number[];
  values: number[];
}

/** Smoothing of the loss line; the raw points stay drawn underneath. */
const EMA_ALPHA = 0.1;

export function lossSeries(run: RunState | null): StepSeries & { smoothed: number[] } {
  const steps: number[] = [];
  const values: number[] = [];
  const smoothed: number[] = [];
  let ema: number | undefined;
  for (const p of run?.lossCurve ?? []) {
    steps.push(p.step);
    values.push(p.value);
    ema = ema === undefined ? p.value : ema + EMA_ALPHA * (p.value - ema);
    smoothed.push(ema);
  }
  return { steps, values, smoothed };
}

export function lrSeries(run: RunState | null): StepSeries {
  const curve = run?.lrCurve ?? [];
  return { steps: curve.map((p) => p.step), values: curve.map((p) => p.value) };
}

/** The split the recall chart and tables follow: the one evaluated last (runs evaluate one split). */
function mainSplit(run: RunState | null): EvaluationRecord[] {
  const evals = run?.evaluations ?? [];
  const split = evals[evals.length - 1]?.split;
  return evals.filter((e) => e.split === split);
}

/** Recall@K names present in the run, by K (recall@1, recall@10, recall@100...). */
function recallMetrics(records: EvaluationRecord[]): string[] {
  const names = new Set<string>();
  for (const r of records) for (const k of Object.keys(r.metrics)) if (/^recall@\d+$/.test(k)) names.add(k);
  return [...names].sort(compareMetrics);
}

export interface RecallSeries {
  epochs: number[];
  /** Values in percent, null where an epoch lacks the metric. */
  series: { metric: string; label: string; values: (number | null)[] }[];
}

/** Recall@1/10/100 (the ones present, at most three) per evaluated epoch; epoch 0 is before training. */
export function recallSeries(run: RunState | null): RecallSeries {
  const records = mainSplit(run);
  const wanted = recallMetrics(records).filter((m) => ['recall@1', 'recall@10', 'recall@100'].includes(m));
  const shown = wanted.length > 0 ? wanted : recallMetrics(records).slice(0, 3);
  return {
    epochs: records.map((r) => r.epoch),
    series: shown.map((metric) => ({
      metric,
      label: metricLabel(metric).replace('Recall', 'R'),
      values: records.map((r) => (typeof r.metrics[metric] === 'number' ? r.metrics[metric]! * 100 : null)),
    })),
  };
}

// ---------------------------------------------------------------------------
// Tables

export interface EvaluationTable {
  split: string;
  metrics: string[];
  rows: { epoch: number; label: string; step: number; values: (number | undefined)[]; numValidQueries: number }[];
}

export function evaluationTable(run: RunState | null): EvaluationTable | null {
  const records = mainSplit(run);
  if (records.length === 0) return null;
  const names = new Set<string>();
  for (const r of records) for (const k of Object.keys(r.metrics)) names.add(k);
  const metrics = [...names].sort(compareMetrics);
  return {
    split: records[0]!.split,
    metrics,
    rows: records.map((r) => ({
      epoch: r.epoch,
      label: r.epoch === 0 ? 'before training' : `epoch ${r.epoch}`,
      step: r.step,
      values: metrics.map((m) => r.metrics[m]),
      numValidQueries: r.numValidQueries,
    })),
  };
}

/**
 * A benchmark folder has reports but no evaluations: its metrics as a table of
 * the reports (before first). Null when the run has evaluations of its own.
 */
export function reportTable(model: PanelModel): EvaluationTable | null {
  if (mainSplit(model.run).length > 0) return null;
  const reports = [model.reports.before, model.reports.after].filter(
    (r): r is NonNullable<typeof r> => r !== undefined,
  );
  if (reports.length === 0) return null;
  const metrics = [...new Set(reports.flatMap((r) => Object.keys(r.metrics)))].sort(compareMetrics);
  return {
    split: 'benchmark',
    metrics,
    rows: reports.map((r) => ({
      epoch: -1,
      label: r.label,
      step: 0,
      values: metrics.map((m) => r.metrics[m]),
      numValidQueries: r.numValidQueries ?? 0,
    })),
  };
}

/** Rows hold fractions here (shown in percentage points). */
export type BeforeAfterRow = ComparisonRow;

export interface BeforeAfter {
  beforeLabel: string;
  afterLabel: string;
  beforePath?: string;
  afterPath?: string;
  rows: BeforeAfterRow[];
}

/**
 * The comparison table: the reports when the host sent them (they may hold
 * more metrics, e.g. Recall@1000 and MAP@R), else the run's own evaluations,
 * epoch 0 against the last epoch. Null until both sides exist.
 */
export function beforeAfter(model: PanelModel): BeforeAfter | null {
  const records = mainSplit(model.run);
  const first = records.find((r) => r.epoch === 0);
  const last = [...records].reverse().find((r) => r.epoch > 0);
  const before =
    model.reports.before ?? (first ? { label: 'epoch 0, before training', metrics: first.metrics } : undefined);
  const after = model.reports.after ?? (last ? { label: `epoch ${last.epoch}`, metrics: last.metrics } : undefined);
  if (!before || !after) return null;
  const rows: BeforeAfterRow[] = comparisonRows(before.metrics, after.metrics);
  return {
    beforeLabel: before.label,
    afterLabel: after.label,
    ...('path' in before && before.path ? { beforePath: before.path } : {}),
    ...('path' in after && after.path ? { afterPath: after.path } : {}),
    rows,
  };
}

/** The resolved config as key/value rows; nested objects become dotted keys. */
export function configRows(config: Record<string, unknown> | undefined): { key: string; value: string }[] {
  const rows: { key: string; value: string }[] = [];
  const walk = (prefix: string, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, sub] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, sub);
    } else if (v !== undefined) {
      rows.push({ key: prefix, value: typeof v === 'string' ? v : JSON.stringify(v) });
    }
  };
  walk('', config ?? {});
  return rows;
}

/** How the run's batches were made, when it used the m_per_product sampler; null otherwise. */
export interface BatchComposition {
  imagesPerProduct: number;
  groupBySuperLabel: boolean;
  hardNegativeMining: boolean;
  batchSize?: number;
  /** One line for the Training tab. */
  text: string;
}

export function batchComposition(config: Record<string, unknown> | undefined): BatchComposition | null {
  if (!config || config.batch_sampler !== 'm_per_product') return null;
  // A config without the key trained with the schema's default.
  const value = <T>(key: string, ok: (v: unknown) => v is T): T => {
    const v = config[key];
    return ok(v) ? v : (specOf(key)?.default as T);
  };
  const isNumber = (v: unknown): v is number => typeof v === 'number';
  const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
  const imagesPerProduct = value('images_per_product', isNumber);
  const groupBySuperLabel = value('group_by_super_label', isBool);
  const hardNegativeMining = value('hard_negative_mining', isBool);
  const batchSize = isNumber(config.batch_size) ? config.batch_size : undefined;
  const text =
    `Batches: m_per_product, ${imagesPerProduct} image pair(s) per product` +
    (batchSize !== undefined
      ? ` (${Math.floor(batchSize / imagesPerProduct)} products per batch of ${batchSize})`
      : '') +
    `; ${groupBySuperLabel ? 'products of one super class together' : 'products drawn at random'} ` +
    `(group_by_super_label: ${groupBySuperLabel}); hard_negative_mining: ${hardNegativeMining ? 'on' : 'off'}.`;
  return {
    imagesPerProduct,
    groupBySuperLabel,
    hardNegativeMining,
    ...(batchSize !== undefined ? { batchSize } : {}),
    text,
  };
}

// ---------------------------------------------------------------------------
// Header

export interface Summary {
  status: string;
  live: boolean;
  command?: string;
  backend?: string;
  device?: string;
  step: number;
  totalSteps?: number;
  epoch: number;
  epochs?: number;
  /** 0..1 when the total is known. */
  progress?: number;
  imagesPerSecond?: number;
  etaSeconds?: number;
  seconds?: number;
  loss?: number;
  lr?: number;
  error?: { code: string; message: string; hint?: string };
  warnings: string[];
  checkpoints: { kind: string; step: number; epoch: number; name: string; path: string }[];
}

/** Null when there is no run to summarise: nothing loaded, or a folder without training events (a benchmark's). */
export function summary(model: PanelModel): Summary | null {
  const r = model.run;
  if (!r || (r.command === undefined && r.step === 0 && r.evaluations.length === 0)) return null;
  const running = r.status === 'running' || r.status === 'starting' || r.status === 'stopping';
  return {
    status: r.status,
    live: model.live,
    ...(r.command !== undefined ? { command: r.command } : {}),
    ...(r.backend !== undefined ? { backend: r.backend } : {}),
    ...(r.device !== undefined ? { device: r.device } : {}),
    step: r.step,
    ...(r.totalSteps !== undefined
      ? { totalSteps: r.totalSteps, progress: r.totalSteps > 0 ? Math.min(1, r.step / r.totalSteps) : 0 }
      : {}),
    epoch: r.epoch,
    ...(r.epochs !== undefined ? { epochs: r.epochs } : {}),
    ...(r.imagesPerSecond !== undefined ? { imagesPerSecond: r.imagesPerSecond } : {}),
    // An ETA is only meaningful while the run goes on.
    ...(r.etaSeconds !== undefined && running ? { etaSeconds: r.etaSeconds } : {}),
    ...(r.seconds !== undefined ? { seconds: r.seconds } : {}),
    ...(r.loss !== undefined ? { loss: r.loss } : {}),
    ...(r.lr !== undefined ? { lr: r.lr } : {}),
    ...(r.error ? { error: r.error } : {}),
    warnings: r.warnings,
    checkpoints: r.checkpoints.map((c) => ({ ...c, name: baseName(c.path) })),
  };
}

// ---------------------------------------------------------------------------
// Gallery

export interface GalleryCell {
  /** Position in the filtered list (what keyboard focus tracks). */
  position: number;
  query: number;
  image: number;
  name: string;
  path: string;
  label: number | string;
  superClass?: string;
  firstCorrectRank: number | null;
  failedAt1: boolean;
  /** undefined: not loaded yet; null: could not be made. */
  thumbnail: string | null | undefined;
}

export interface GalleryView {
  source: string;
  totalQueries: number;
  failedAt1: number;
  superClasses: { name: string; count: number }[];
  shown: number;
  page: number;
  pages: number;
  cells: GalleryCell[];
  focus: number;
}

let superClassCache: { gallery: GalleryData; result: { name: string; count: number }[]; failed: number } | undefined;

function galleryCounts(g: GalleryData): { result: { name: string; count: number }[]; failed: number } {
  if (superClassCache?.gallery === g) return superClassCache;
  const counts = new Map<string, number>();
  let failed = 0;
  for (const q of g.queries) {
    const sc = g.images[q.image]?.superClass;
    if (sc !== undefined) counts.set(sc, (counts.get(sc) ?? 0) + 1);
    if (q.firstCorrectRank !== 1) failed++;
  }
  const result = [...counts.entries()]
    .map(([name, count]) => ({ name, count }))
    .sort((a, b) => a.name.localeCompare(b.name));
  superClassCache = { gallery: g, result, failed };
  return superClassCache;
}

export function galleryView(model: PanelModel): GalleryView | null {
  const g = model.gallery;
  if (!g) return null;
  const list = filteredQueries(model);
  const pages = pageCount(list.length);
  const page = Math.min(model.ui.page, pages - 1);
  const start = page * PAGE_SIZE;
  const cells = list.slice(start, start + PAGE_SIZE).map((query, i): GalleryCell => {
    const q = g.queries[query]!;
    const img = g.images[q.image];
    return {
      position: start + i,
      query,
      image: q.image,
      name: baseName(img?.path ?? `image ${q.image}`),
      path: img?.path ?? '',
      label: img?.label ?? -1,
      ...(img?.superClass !== undefined ? { superClass: img.superClass } : {}),
      firstCorrectRank: q.firstCorrectRank,
      failedAt1: q.firstCorrectRank !== 1,
      thumbnail: model.thumbs[q.image],
    };
  });
  const counts = galleryCounts(g);
  return {
    source: g.source,
    totalQueries: g.queries.length,
    failedAt1: counts.failed,
    superClasses: counts.result,
    shown: list.length,
    page,
    pages,
    cells,
    focus: model.ui.focus,
  };
}

// ---------------------------------------------------------------------------
// Neighbours: one view for a gallery query and for a search by image

export interface NeighbourItem {
  rank: number;
  name: string;
  path: string;
  score: number;
  /** Same product as the query; undefined when unknown (a search by an outside image). */
  same?: boolean;
  label?: number | string;
  superClass?: string;
  thumbnail: string | null | undefined;
  /** What activating the item posts to the host (open the image in an editor). */
  open: PanelMessage;
}

export interface NeighbourView {
  kind: 'query' | 'search';
  title: string;
  query: { name: string; path?: string; thumbnail: string | null | undefined; facts: string[] };
  /** For gallery queries: rank of the first correct match (null: none within the top `k`). */
  firstCorrectRank?: number | null;
  /** How far the first correct match was searched (the rank cap, else the neighbours stored). */
  k?: number;
  status: 'loading' | 'ready' | 'failed';
  message?: string;
  items: NeighbourItem[];
}

export function openQueryView(model: PanelModel): NeighbourView | null {
  const g = model.gallery;
  const qi = model.ui.openQuery;
  if (!g || qi === null) return null;
  const q = g.queries[qi];
  if (!q) return null;
  const img = g.images[q.image];
  const list = neighboursOf(model, qi);
  return {
    kind: 'query',
    title: `Query ${baseName(img?.path ?? String(q.image))}`,
    query: {
      name: baseName(img?.path ?? String(q.image)),
      ...(img?.path ? { path: img.path } : {}),
      thumbnail: model.thumbs[q.image],
      // The rank of the first correct match has its own badge (firstCorrectRank).
      facts: [`product ${img?.label ?? '?'}`, ...(img?.superClass ? [img.superClass] : [])],
    },
    firstCorrectRank: q.firstCorrectRank,
    k: g.rankCap ?? g.k,
    status: list ? 'ready' : 'loading',
    items: (list ?? []).map((n, i) => {
      const nImg = g.images[n.image];
      return {
        rank: i + 1,
        name: baseName(nImg?.path ?? String(n.image)),
        path: nImg?.path ?? '',
        score: n.score,
        same: n.same,
        ...(nImg ? { label: nImg.label } : {}),
        ...(nImg?.superClass !== undefined ? { superClass: nImg.superClass } : {}),
        thumbnail: model.thumbs[n.image],
        open: { type: 'openImage', image: n.image },
      };
    }),
  };
}

export function searchView(model: PanelModel): NeighbourView | null {
  const s = model.search;
  if (!s) return null;
  return {
    kind: 'search',
    title: `Images nearest to ${s.name}`,
    query: {
      name: s.name,
      thumbnail: s.preview,
      facts: s.status === 'done' ? [`${s.hits.length} nearest images`] : [],
    },
    status: s.status === 'pending' ? 'loading' : s.status === 'done' ? 'ready' : 'failed',
    ...(s.message !== undefined ? { message: s.message } : {}),
    items: s.hits.map((h, i) => ({
      rank: i + 1,
      name: baseName(h.path),
      path: h.path,
      score: h.score,
      ...(h.label !== undefined ? { label: h.label } : {}),
      ...(h.superClass !== undefined ? { superClass: h.superClass } : {}),
      thumbnail: h.thumbnail ?? null,
      open: { type: 'openSearchHit', requestId: s.requestId, index: i },
    })),
  };
}

/** The seed sweep this run belongs to, as table rows: this run's value against the sweep's mean ± sd and range. */
export interface SeedSpreadView {
  caption: string;
  thisSeed: number;
  rows: Array<{ label: string; thisRun?: number; mean: number; sd: number | null; min: number; max: number }>;
}

export function seedSpreadView(model: PanelModel): SeedSpreadView | null {
  const s = model.reports.seedSpread;
  if (!s) return null;
  const at = s.seeds.indexOf(s.thisSeed);
  return {
    thisSeed: s.thisSeed,
    caption:
      `This run is seed ${s.thisSeed} of a sweep over seeds ${s.seeds.join(', ')} (${s.file}): the last evaluation ` +
      `of each run; sd is the sample standard deviation. One seed is one draw: read its numbers against the spread.`,
    rows: s.spread.map((m) => ({
      label: metricLabel(m.metric),
      ...(at >= 0 && m.values.length === s.seeds.length ? { thisRun: m.values[at] } : {}),
      mean: m.mean,
      sd: m.sd,
      min: m.min,
      max: m.max,
    })),
  };
}
