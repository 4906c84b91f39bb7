/**
 * The panel's state: host messages and user actions in, a new model out.
 * Pure (no DOM, no `acquireVsCodeApi`), so it is unit-tested in Node; the DOM
 * views only read the model through the selectors in ./viewModel.
 *
 * A live run and a finished run go through the same path: a `run` message
 * replaces the run, `events` messages fold engine events into it with the
 * shared reducer (src/shared/runState.ts).
 */
import type {
  AnalysisData,
  DataHealthData,
  GalleryData,
  GalleryNeighbour,
  HostMessage,
  PanelPersistedState,
  PanelTab,
  PersistedUi,
  ReportSummary,
  SearchHit,
  SeedSpreadData,
} from '../../src/shared/panelProtocol';
import { initialRunState, reduceRun } from '../../src/shared/runState';
import type { RunState } from '../../src/shared/runState';

/** Gallery cells per page: divisible by 2..6, 10 and 12, so full rows at most widths. */
export const PAGE_SIZE = 60;

export interface SearchState {
  requestId: string;
  name: string;
  /** The query's preview: a data: URL of the picked file, or the host's thumbnail. */
  preview?: string;
  status: 'pending' | 'done' | 'failed';
  hits: SearchHit[];
  message?: string;
}

export interface PanelModel {
  run: RunState | null;
  runDir?: string;
  title: string;
  live: boolean;
  problems: string[];
  /** Bumped whenever the run changes, so views redraw charts only then. */
  runVersion: number;
  reports: { before?: ReportSummary; after?: ReportSummary; seedSpread?: SeedSpreadData };
  gallery: GalleryData | null;
  galleryReason?: string;
  /** Thumbnail URIs by gallery image index; null: the image could not be read. */
  thumbs: Record<number, string | null>;
  /** Neighbours fetched on demand, by query index (when the gallery came without them). */
  neighbours: Record<number, GalleryNeighbour[]>;
  search: SearchState | null;
  /** The Analysis tab's embeddings map and error analysis. */
  analysis: AnalysisData | null;
  analysisReason?: string;
  /** The run's data-health report (Data health tab, header warning). */
  dataHealth: DataHealthData | null;
  dataHealthReason?: string;
  ui: PersistedUi;
}

export const DEFAULT_UI: PersistedUi = {
  tab: 'training',
  superClass: '',
  failedOnly: false,
  page: 0,
  openQuery: null,
  focus: 0,
};

export function initialModel(saved?: PanelPersistedState): PanelModel {
  return {
    run: null,
    ...(saved?.runDir !== undefined ? { runDir: saved.runDir } : {}),
    title: '',
    live: false,
    problems: [],
    runVersion: 0,
    reports: {},
    gallery: null,
    thumbs: {},
    neighbours: {},
    search: null,
    analysis: null,
    dataHealth: null,
    ui: { ...DEFAULT_UI, ...sanitizeUi(saved?.ui) },
  };
}

/** Saved state comes back from VS Code as plain JSON: keep only well-formed fields. */
function sanitizeUi(ui: unknown): Partial<PersistedUi> {
  if (typeof ui !== 'object' || ui === null) return {};
  const u = ui as Record<string, unknown>;
  const out: Partial<PersistedUi> = {};
  if (u.tab === 'training' || u.tab === 'queries' || u.tab === 'analysis' || u.tab === 'data' || u.tab === 'search')
    out.tab = u.tab;
  if (typeof u.superClass === 'string') out.superClass = u.superClass;
  if (typeof u.failedOnly === 'boolean') out.failedOnly = u.failedOnly;
  if (Number.isInteger(u.page) && (u.page as number) >= 0) out.page = u.page as number;
  if (Number.isInteger(u.focus) && (u.focus as number) >= 0) out.focus = u.focus as number;
  if (u.openQuery === null || (Number.isInteger(u.openQuery) && (u.openQuery as number) >= 0))
    out.openQuery = u.openQuery as number | null;
  return out;
}

export function persistedState(model: PanelModel): PanelPersistedState {
  return { ...(model.runDir !== undefined ? { runDir: model.runDir } : {}), ui: model.ui };
}

/** Keys that move through the gallery grid. */
export type NavKey = 'ArrowLeft' | 'ArrowRight' | 'ArrowUp' | 'ArrowDown' | 'Home' | 'End' | 'PageUp' | 'PageDown';
export const NAV_KEYS: ReadonlySet<string> = new Set<NavKey>([
  'ArrowLeft',
  'ArrowRight',
  'ArrowUp',
  'ArrowDown',
  'Home',
  'End',
  'PageUp',
  'PageDown',
]);

export type Action =
  | { type: 'host'; message: HostMessage }
  | { type: 'selectTab'; tab: PanelTab }
  | { type: 'filter'; superClass?: string; failedOnly?: boolean }
  | { type: 'page'; page: number }
  /** `columns`: cells per row as laid out now (the DOM measures it). */
  | { type: 'navigate'; key: NavKey; columns: number }
  | { type: 'focusCell'; position: number }
  /** Open the query at a position of the filtered list (the focused one when omitted). */
  | { type: 'openQuery'; position?: number }
  | { type: 'closeQuery' }
  /** Open the query of a gallery image (from the map or the error analysis) in the Queries tab, filters cleared. */
  | { type: 'openImageQuery'; image: number }
  | { type: 'searchStarted'; requestId: string; name: string; preview?: string };

export function reduce(model: PanelModel, action: Action): PanelModel {
  switch (action.type) {
    case 'host':
      return onHostMessage(model, action.message);
    case 'selectTab':
      return withUi(model, { tab: action.tab });
    case 'filter': {
      const ui = {
        ...(action.superClass !== undefined ? { superClass: action.superClass } : {}),
        ...(action.failedOnly !== undefined ? { failedOnly: action.failedOnly } : {}),
      };
      return withUi(model, { ...ui, page: 0, focus: 0, openQuery: null });
    }
    case 'page': {
      const pages = pageCount(filteredQueries(model).length);
      const page = clamp(action.page, 0, pages - 1);
      return withUi(model, { page, focus: page * PAGE_SIZE });
    }
    case 'navigate': {
      const total = filteredQueries(model).length;
      if (total === 0) return model;
      const focus = navigate(model.ui.focus, action.key, Math.max(1, action.columns), total);
      return withUi(model, { focus, page: Math.floor(focus / PAGE_SIZE) });
    }
    case 'focusCell': {
      const total = filteredQueries(model).length;
      if (total === 0) return model;
      const focus = clamp(action.position, 0, total - 1);
      return withUi(model, { focus, page: Math.floor(focus / PAGE_SIZE) });
    }
    case 'openQuery': {
      const list = filteredQueries(model);
      const position = action.position ?? model.ui.focus;
      const query = list[position];
      if (query === undefined) return model;
      return withUi(model, { openQuery: query, focus: position, page: Math.floor(position / PAGE_SIZE) });
    }
    case 'closeQuery':
      return withUi(model, { openQuery: null });
    case 'openImageQuery': {
      const query = model.gallery?.queries.findIndex((q) => q.image === action.image) ?? -1;
      if (query < 0) return model;
      // Unfiltered, a query's position in the list is its index.
      return withUi(model, {
        tab: 'queries',
        superClass: '',
        failedOnly: false,
        openQuery: query,
        focus: query,
        page: Math.floor(query / PAGE_SIZE),
      });
    }
    case 'searchStarted':
      return {
        ...model,
        search: {
          requestId: action.requestId,
          name: action.name,
          status: 'pending',
          hits: [],
          ...(action.preview !== undefined ? { preview: action.preview } : {}),
        },
      };
  }
}

function onHostMessage(model: PanelModel, m: HostMessage): PanelModel {
  switch (m.type) {
    case 'run': {
      const sameRun = m.runDir !== undefined && m.runDir === model.runDir;
      const base: PanelModel = sameRun
        ? model
        : // Another run: what belonged to the previous one goes (the host sends the new gallery and reports next).
          {
            ...model,
            reports: {},
            gallery: null,
            thumbs: {},
            neighbours: {},
            analysis: null,
            dataHealth: null,
            ui: model.run ? { ...DEFAULT_UI, tab: model.ui.tab } : model.ui,
          };
      const next: PanelModel = {
        ...base,
        run: m.state,
        title: m.title,
        live: m.live,
        problems: m.problems,
        runVersion: model.runVersion + 1,
      };
      if (m.runDir !== undefined) next.runDir = m.runDir;
      else delete next.runDir;
      return next;
    }
    case 'events': {
      if (m.events.length === 0) return model;
      // Events may arrive before any `run` message (the host sends a snapshot on `ready`).
      let run = model.run ?? initialRunState();
      for (const e of m.events) run = reduceRun(run, e);
      const finished = m.events.some((e) => e.type === 'finished');
      return { ...model, run, runVersion: model.runVersion + 1, live: finished ? false : model.live };
    }
    case 'reports':
      return {
        ...model,
        reports: {
          ...(m.before ? { before: m.before } : {}),
          ...(m.after ? { after: m.after } : {}),
          ...(m.seedSpread ? { seedSpread: m.seedSpread } : {}),
        },
      };
    case 'gallery': {
      const next: PanelModel = { ...model, gallery: m.gallery, neighbours: {} };
      if (m.reason !== undefined) next.galleryReason = m.reason;
      else delete next.galleryReason;
      // A restored panel keeps its page, filter and open query if they still fit the gallery.
      const total = filteredQueries(next).length;
      const openOk = next.ui.openQuery !== null && m.gallery !== null && next.ui.openQuery < m.gallery.queries.length;
      const focus = total === 0 ? 0 : clamp(next.ui.focus, 0, total - 1);
      return withUi(next, { focus, page: Math.floor(focus / PAGE_SIZE), openQuery: openOk ? next.ui.openQuery : null });
    }
    case 'thumbnails': {
      const thumbs = { ...model.thumbs };
      for (const [k, v] of Object.entries(m.uris)) thumbs[Number(k)] = v;
      return { ...model, thumbs };
    }
    case 'neighbours':
      return { ...model, neighbours: { ...model.neighbours, [m.query]: m.neighbours } };
    case 'searchResult': {
      // A result for an older request (the user picked another image since) is dropped.
      const fromHost = m.requestId.startsWith('host-');
      if (!fromHost && model.search?.requestId !== m.requestId) return model;
      const preview =
        model.search?.requestId === m.requestId ? (model.search.preview ?? m.query.thumbnail) : m.query.thumbnail;
      const search: SearchState = {
        requestId: m.requestId,
        name: m.query.name,
        status: 'done',
        hits: m.hits,
        ...(preview !== undefined ? { preview } : {}),
      };
      return { ...model, search };
    }
    case 'searchFailed':
      if (model.search?.requestId !== m.requestId) return model;
      return { ...model, search: { ...model.search, status: 'failed', message: m.message } };
    case 'showTab':
      return withUi(model, { tab: m.tab });
    case 'analysis': {
      const next: PanelModel = { ...model, analysis: m.analysis };
      if (m.reason !== undefined) next.analysisReason = m.reason;
      else delete next.analysisReason;
      return next;
    }
    case 'dataHealth': {
      const next: PanelModel = { ...model, dataHealth: m.health };
      if (m.reason !== undefined) next.dataHealthReason = m.reason;
      else delete next.dataHealthReason;
      return next;
    }
  }
}

function withUi(model: PanelModel, ui: Partial<PersistedUi>): PanelModel {
  return { ...model, ui: { ...model.ui, ...ui } };
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(hi, v));
}

export function pageCount(total: number): number {
  return Math.max(1, Math.ceil(total / PAGE_SIZE));
}

/**
 * The focus after a key, as a position in the filtered list. Arrows move within
 * the page's grid (left/right wrap into the previous/next page), Home/End go
 * to the page's ends, PageUp/PageDown keep the cell's place on the next page.
 */
export function navigate(focus: number, key: NavKey, columns: number, total: number): number {
  const pageStart = Math.floor(focus / PAGE_SIZE) * PAGE_SIZE;
  const pageEnd = Math.min(total, pageStart + PAGE_SIZE) - 1;
  const offset = focus - pageStart;
  let next = focus;
  switch (key) {
    case 'ArrowLeft':
      next = focus - 1;
      break;
    case 'ArrowRight':
      next = focus + 1;
      break;
    case 'ArrowUp':
      next = focus - columns >= pageStart ? focus - columns : focus;
      break;
    case 'ArrowDown':
      // The last row may be short: go to its last cell rather than nowhere.
      next =
        focus + columns <= pageEnd
          ? focus + columns
          : Math.floor(offset / columns) < Math.floor((pageEnd - pageStart) / columns)
            ? pageEnd
            : focus;
      break;
    case 'Home':
      next = pageStart;
      break;
    case 'End':
      next = pageEnd;
      break;
    case 'PageUp':
      next = pageStart === 0 ? focus : pageStart - PAGE_SIZE + offset;
      break;
    case 'PageDown':
      next = pageStart + PAGE_SIZE >= total ? focus : Math.min(total - 1, pageStart + PAGE_SIZE + offset);
      break;
  }
  return clamp(next, 0, total - 1);
}

// ---------------------------------------------------------------------------
// Gallery filtering (memoised: a full SOP gallery has 60k queries)

let filterCache: { gallery: GalleryData; superClass: string; failedOnly: boolean; result: number[] } | undefined;

/** Query indexes (into gallery.queries) that pass the filter, in gallery order. */
export function filteredQueries(model: PanelModel): number[] {
  const g = model.gallery;
  if (!g) return [];
  const { superClass, failedOnly } = model.ui;
  if (
    filterCache &&
    filterCache.gallery === g &&
    filterCache.superClass === superClass &&
    filterCache.failedOnly === failedOnly
  )
    return filterCache.result;
  const result: number[] = [];
  g.queries.forEach((q, i) => {
    if (failedOnly && q.firstCorrectRank === 1) return;
    if (superClass !== '' && g.images[q.image]?.superClass !== superClass) return;
    result.push(i);
  });
  filterCache = { gallery: g, superClass, failedOnly, result };
  return result;
}

/** Neighbours of a query: sent with the gallery, or fetched on demand; undefined while not here yet. */
export function neighboursOf(model: PanelModel, query: number): GalleryNeighbour[] | undefined {
  return model.gallery?.queries[query]?.neighbours ?? model.neighbours[query];
}

/**
 * What the page must ask the host for now: thumbnails of the visible cells and
 * of the open query's neighbours, and the open query's neighbours when the
 * gallery came without them. `asked` holds what was asked already.
 */
export function wantedResources(
  model: PanelModel,
  asked: { thumbnails: ReadonlySet<number>; neighbours: ReadonlySet<number> },
): { thumbnails: number[]; neighbours: number | null } {
  const g = model.gallery;
  if (!g) return { thumbnails: [], neighbours: null };
  const images = new Set<number>();
  if (model.ui.tab === 'queries') {
    const list = filteredQueries(model);
    const start = model.ui.page * PAGE_SIZE;
    for (const q of list.slice(start, start + PAGE_SIZE)) {
      const img = g.queries[q]?.image;
      if (img !== undefined) images.add(img);
    }
  }
  let neighbours: number | null = null;
  const open = model.ui.openQuery;
  if (open !== null && g.queries[open]) {
    images.add(g.queries[open].image);
    const list = neighboursOf(model, open);
    if (list) for (const n of list) images.add(n.image);
    else if (!asked.neighbours.has(open)) neighbours = open;
  }
  const thumbnails = [...images].filter((i) => !(i in model.thumbs) && !asked.thumbnails.has(i));
  return { thumbnails, neighbours };
}
