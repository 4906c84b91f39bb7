/**
 * Messages between the extension and the results panel's page (a webview).
 *
 * The page holds no files and reads nothing from disk: the extension sends it
 * a run (a folded RunState, then live engine events), the reports, the query
 * gallery and thumbnail URIs. The page asks for what it needs by index, never
 * by path, so a compromised page cannot make the extension read arbitrary
 * files; the extension validates every message with `parsePanelMessage`.
 *
 * Both sides import this module: keep it free of `vscode` and of Node built-ins.
 */
import type { EngineEvent, Metrics } from './protocol';
import type { RunState } from './runState';
import type { ErrorAnalysis } from './analysis/errorAnalysis';
import type { DataHealthReport, Split } from './artifacts/dataHealthFile';
import type { MetricSpread } from './analysis/spread';

/** The webview's view type, for `createWebviewPanel` and the panel serializer. */
export const RESULTS_VIEW_TYPE = 'vembed.results';

/** Largest image the page sends for a search (bytes, before base64). */
export const MAX_SEARCH_IMAGE_BYTES = 20 * 1024 * 1024;

/** Thumbnails the page may ask for in one message (one gallery page and its neighbours). */
export const MAX_THUMBNAILS_PER_REQUEST = 512;

// ---------------------------------------------------------------------------
// Data shown by the panel

/** A benchmark or evaluation report, as read from its JSON file. */
export interface ReportSummary {
  /** What the numbers measure, e.g. "before training (epoch 0)" or a model folder. */
  label: string;
  metrics: Metrics;
  numImages?: number;
  numValidQueries?: number;
  /** The file it was read from, shown as a tooltip. */
  path?: string;
}

export interface GalleryImage {
  /** Path as the neighbours file gives it (relative to its image root), for display. */
  path: string;
  /** Product (class) id: images with the same label show the same product. */
  label: number | string;
  /** SOP super class (bicycle, chair, ...), for the filter. */
  superClass?: string;
}

export interface GalleryNeighbour {
  /** Index into `GalleryData.images`. */
  image: number;
  /** Cosine similarity. */
  score: number;
  /** Same product as the query. */
  same: boolean;
}

export interface GalleryQuery {
  /** Index into `GalleryData.images`. */
  image: number;
  /** 1-based rank of the first image of the same product among all others; null when beyond the rank cap. */
  firstCorrectRank: number | null;
  /**
   * Top-K neighbours, best first. Absent when the gallery is too large to
   * send at once: the page then asks for them with `requestNeighbours`.
   */
  neighbours?: GalleryNeighbour[];
}

export interface GalleryData {
  /** The file the gallery was read from, for display. */
  source: string;
  /** Neighbours stored per query. */
  k: number;
  /** First correct ranks were searched up to this rank; null ranks lie beyond it. */
  rankCap?: number;
  images: GalleryImage[];
  queries: GalleryQuery[];
}

/** One hit of a search by image: the image may be outside the gallery, so it comes with its own path and thumbnail. */
export interface SearchHit {
  path: string;
  score: number;
  label?: number | string;
  superClass?: string;
  /** Webview URI of its thumbnail; absent when none could be made. */
  thumbnail?: string;
}

/** One side (before or after fine-tuning) of the embeddings map: point i is GalleryData.images[i]. */
export interface MapSide {
  /** What was embedded, e.g. "before (eval-before)". */
  label: string;
  method: string;
  /** Time the projection took, seconds. */
  seconds: number;
  varianceRatio: number[];
  x: number[];
  y: number[];
}

/**
 * The Analysis tab: the embeddings map and the error analysis of the gallery's
 * benchmark against the same images before fine-tuning. Image indexes are the
 * gallery's; a part that could not be made is absent and `notes` says why.
 */
export interface AnalysisData {
  before?: MapSide;
  after?: MapSide;
  errors?: ErrorAnalysis;
  notes: string[];
}

/** An image a data-health report lists, as the panel shows it. */
export interface HealthImageRef {
  split: Split;
  /** As the report lists it. */
  image: string;
  /** Webview URI of its thumbnail; absent when the file is missing or unreadable. */
  thumbnail?: string;
  /** The file exists, so the page may ask to open it. */
  exists: boolean;
}

/** The run's data-health report (data-health.json) for the Data health tab and the header. */
export interface DataHealthData {
  /** The report file, for display. */
  file: string;
  report: DataHealthReport;
  leakage: boolean;
  /** The images the page shows (shared/artifacts/dataHealthFile.ts `listedImages`); asked to open by index. */
  images: HealthImageRef[];
}

/**
 * The seed sweep a run belongs to (`vembed train --seeds`: the run folder is
 * `seed-N` beside the sweep's seed-sweep.json): each metric's spread over the
 * sweep's runs, so one seed's numbers are read against the others'.
 */
export interface SeedSpreadData {
  /** The seed-sweep.json file, for display. */
  file: string;
  seeds: number[];
  /** The seed of the run on show. */
  thisSeed: number;
  /** Fractions, like the run's evaluations. */
  spread: MetricSpread[];
}

// ---------------------------------------------------------------------------
// Extension -> page

export interface RunMessage {
  type: 'run';
  /** The run folder; the page keeps it in its saved state so the panel can be restored. */
  runDir?: string;
  title: string;
  /** True while an engine process feeds this run; `events` messages follow. */
  live: boolean;
  state: RunState;
  /** Problems met while reading the run (bad lines in events.jsonl, unreadable reports). */
  problems: string[];
}

export type HostMessage =
  | RunMessage
  /** Live engine events, in order, to fold into the run (see src/shared/runState.ts). */
  | { type: 'events'; events: EngineEvent[] }
  /** Before/after reports; either may be missing. With the seed sweep the run belongs to, if any. */
  | { type: 'reports'; before?: ReportSummary; after?: ReportSummary; seedSpread?: SeedSpreadData }
  /** The query gallery, or null with a reason when the run has none (yet). */
  | { type: 'gallery'; gallery: GalleryData | null; reason?: string }
  /** Thumbnail URIs by image index; null when the image could not be read. */
  | { type: 'thumbnails'; uris: Record<string, string | null> }
  | { type: 'neighbours'; query: number; neighbours: GalleryNeighbour[] }
  | { type: 'searchResult'; requestId: string; query: { name: string; thumbnail?: string }; hits: SearchHit[] }
  | { type: 'searchFailed'; requestId: string; message: string }
  /** Bring a tab to the front (e.g. after "Find Similar Images" from the explorer). */
  | { type: 'showTab'; tab: PanelTab }
  /** The embeddings map and error analysis, or null with a reason. */
  | { type: 'analysis'; analysis: AnalysisData | null; reason?: string }
  /** The run's data-health report, or null with a reason (none written, or unreadable). */
  | { type: 'dataHealth'; health: DataHealthData | null; reason?: string };

export type PanelTab = 'training' | 'queries' | 'analysis' | 'data' | 'search';

// ---------------------------------------------------------------------------
// Page -> extension

export type SearchImageSource =
  /** A file picked or dropped from the OS: its bytes, base64-encoded. */
  | { kind: 'bytes'; mime: string; base64: string }
  /** A file dragged from VS Code's explorer (text/uri-list). */
  | { kind: 'uri'; uri: string };

export type PanelMessage =
  /** The page has loaded (or reloaded after being hidden): send everything again. */
  | { type: 'ready' }
  | { type: 'requestThumbnails'; images: number[] }
  | { type: 'requestNeighbours'; query: number }
  | { type: 'searchImage'; requestId: string; name: string; source: SearchImageSource }
  /** Open a gallery image in an editor tab. */
  | { type: 'openImage'; image: number }
  /** Open a search hit (by request and 0-based position) in an editor tab. */
  | { type: 'openSearchHit'; requestId: string; index: number }
  /** Open an image of the data-health report (index into DataHealthData.images) in an editor tab. */
  | { type: 'openHealthImage'; image: number };

/** What the page keeps with `vscode.setState`, and the serializer gets back after a reload. */
export interface PanelPersistedState {
  runDir?: string;
  ui?: PersistedUi;
}

export interface PersistedUi {
  tab: PanelTab;
  superClass: string;
  failedOnly: boolean;
  page: number;
  /** Query index (into GalleryData.queries) whose neighbours are open. */
  openQuery: number | null;
  /** Position of the focused cell in the filtered list. */
  focus: number;
}

// ---------------------------------------------------------------------------
// Validation of what the page sends (it is a web page: treat it as untrusted)

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isIndex = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
const isShortString = (x: unknown, max = 1024): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;

export type ParsedPanelMessage = { ok: true; message: PanelMessage } | { ok: false; reason: string };

/** Check a message from the page; the reason names what is wrong, for the log. */
export function parsePanelMessage(x: unknown): ParsedPanelMessage {
  if (!isObject(x) || typeof x.type !== 'string') return { ok: false, reason: 'not a message object with a type' };
  const bad = (what: string): ParsedPanelMessage => ({ ok: false, reason: `${x.type as string}: ${what}` });
  switch (x.type) {
    case 'ready':
      return { ok: true, message: { type: 'ready' } };
    case 'requestThumbnails': {
      if (!Array.isArray(x.images) || !x.images.every(isIndex)) return bad('images must be an array of image indexes');
      if (x.images.length > MAX_THUMBNAILS_PER_REQUEST)
        return bad(`at most ${MAX_THUMBNAILS_PER_REQUEST} images per request`);
      return { ok: true, message: { type: 'requestThumbnails', images: x.images as number[] } };
    }
    case 'requestNeighbours':
      return isIndex(x.query)
        ? { ok: true, message: { type: 'requestNeighbours', query: x.query } }
        : bad('query must be a query index');
    case 'openImage':
      return isIndex(x.image)
        ? { ok: true, message: { type: 'openImage', image: x.image } }
        : bad('image must be an image index');
    case 'openHealthImage':
      return isIndex(x.image)
        ? { ok: true, message: { type: 'openHealthImage', image: x.image } }
        : bad('image must be an image index');
    case 'openSearchHit':
      if (!isShortString(x.requestId, 100) || !isIndex(x.index)) return bad('needs requestId and index');
      return { ok: true, message: { type: 'openSearchHit', requestId: x.requestId, index: x.index } };
    case 'searchImage': {
      if (!isShortString(x.requestId, 100)) return bad('requestId missing');
      if (!isShortString(x.name, 300)) return bad('name missing');
      const s = x.source;
      if (!isObject(s)) return bad('source missing');
      if (s.kind === 'bytes') {
        if (!isShortString(s.mime, 100) || !/^image\//.test(s.mime)) return bad(`not an image type: ${String(s.mime)}`);
        if (typeof s.base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s.base64))
          return bad('base64 data missing or malformed');
        if ((s.base64.length * 3) / 4 > MAX_SEARCH_IMAGE_BYTES + 3)
          return bad(`image larger than ${MAX_SEARCH_IMAGE_BYTES / 1024 / 1024} MiB`);
        return {
          ok: true,
          message: {
            type: 'searchImage',
            requestId: x.requestId,
            name: x.name,
            source: { kind: 'bytes', mime: s.mime, base64: s.base64 },
          },
        };
      }
      if (s.kind === 'uri') {
        if (!isShortString(s.uri, 4096)) return bad('uri missing');
        return {
          ok: true,
          message: { type: 'searchImage', requestId: x.requestId, name: x.name, source: { kind: 'uri', uri: s.uri } },
        };
      }
      return bad(`unknown source kind ${String(s.kind)}`);
    }
    default:
      return { ok: false, reason: `unknown message type ${x.type}` };
  }
}
