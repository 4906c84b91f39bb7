/**
 * The extension's half of one results panel, without `vscode`: what to send
 * the page for a run (live or finished), and the answers to the page's
 * requests. ResultsPanel (./resultsPanel.ts) only connects it to a webview;
 * the tests drive it directly.
 *
 * The page may reload at any time (VS Code drops a hidden webview's page), so
 * every `ready` gets a full snapshot: the run's state as now, then reports and
 * gallery. Live events are batched (one message per `flushMs`) and dropped
 * while no page listens, since the next snapshot holds them.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  MAX_SEARCH_IMAGE_BYTES,
  parsePanelMessage,
  type HostMessage,
  type PanelMessage,
  type PanelTab,
  type ReportSummary,
  type SearchHit,
} from '../../shared/panelProtocol';
import type { EngineEvent } from '../../shared/protocol';
import type { RunState } from '../../shared/runState';
import { IMAGE_MIME_EXTENSIONS, SEARCHABLE_IMAGE_EXTENSIONS, isSearchableImage } from '../../shared/imageFiles';
import { GallerySource } from './gallery';
import { loadAnalysis } from './analysisSource';
import { readReport } from './reports';
import { EVENTS_FILE } from '../engine/runFiles';
import { loadRunFolder, locateRunOutputs, type RunOutputs } from './runFolder';
import type { ThumbnailCache } from './thumbnails';

/** A hit as the engine's search returns it. */
export interface EngineSearchHit {
  path: string;
  score: number;
  label?: number | string;
  superClass?: string;
}

export interface SearchImageRequest {
  /** The run whose index to search; undefined when the panel shows no run. */
  runDir: string | undefined;
  /** An image file on disk (a dropped file's bytes are written to the scratch folder first). */
  imagePath: string;
  topK: number;
}

/**
 * The hook the lead wires to the engine: embed `imagePath` with the run's
 * model and return its nearest images from the run's index, best first.
 * Reject with an Error whose message the user can act on.
 */
export type SearchImageHook = (request: SearchImageRequest) => Promise<EngineSearchHit[]>;

/** What a live run must offer (EngineProcess does). */
export interface LiveRunSource {
  readonly state: RunState;
  on(event: 'event', listener: (e: EngineEvent, state: RunState) => void): unknown;
  off(event: 'event', listener: (e: EngineEvent, state: RunState) => void): unknown;
  readonly exited: Promise<{ state: RunState }>;
}

export interface PanelSessionDeps {
  post(message: HostMessage): void;
  /** `webview.asWebviewUri` of a local file, as a string. */
  toWebviewUri(fsPath: string): string;
  thumbnails: ThumbnailCache;
  /** Where dropped images are written so the engine can read them. */
  scratchDir: string;
  topK(): number;
  searchImage?: SearchImageHook;
  /** Open a file in an editor tab. */
  openFile?(fsPath: string): void;
  log?(message: string): void;
  /** Batching interval of live events, ms. */
  flushMs?: number;
}

/** One event message carries at most this many events (a replayed burst stays a few hundred KB). */
const MAX_EVENTS_PER_MESSAGE = 2000;
/** Thumbnails sent per message, so the first cells fill in before the last are made. */
const THUMBNAIL_CHUNK = 20;
/** Search results remembered for `openSearchHit`. */
const REMEMBERED_SEARCHES = 20;

export class PanelSession {
  private runDir: string | undefined;
  private state: RunState | undefined;
  private problems: string[] = [];
  private live: LiveRunSource | undefined;
  private liveListener: ((e: EngineEvent) => void) | undefined;
  private reports: { before?: ReportSummary; after?: ReportSummary } = {};
  private gallery: GallerySource | null = null;
  private galleryReason: string | undefined;
  private analysis: Extract<HostMessage, { type: 'analysis' }> | undefined;
  private pageReady = false;
  private queue: EngineEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly searches = new Map<string, string[]>();
  private hostResult: HostMessage | undefined;
  private hostSearches = 0;
  private pendingTab: PanelTab | undefined;
  private loadToken = 0;
  private disposed = false;
  private readonly loggedThumbnailErrors = new Set<string>();

  constructor(private readonly deps: PanelSessionDeps) {}

  get currentRunDir(): string | undefined {
    return this.runDir;
  }

  get isLive(): boolean {
    return this.live !== undefined;
  }

  /** Show a run: followed live when `live` is given, else read from its folder. */
  async openRun(runDir: string, live?: LiveRunSource): Promise<void> {
    const token = ++this.loadToken;
    this.detachLive();
    this.runDir = runDir;
    this.reports = {};
    this.gallery = null;
    this.galleryReason = undefined;
    this.analysis = undefined;
    if (live) {
      this.attachLive(live);
      this.state = live.state;
      this.problems = [];
    } else {
      const loaded = await loadRunFolder(runDir);
      if (token !== this.loadToken || this.disposed) return;
      this.state = loaded.state;
      this.problems = loaded.problems;
    }
    this.sendRun();
    await this.loadOutputs(token);
  }

  /** The page is gone (panel hidden): stop sending until it says `ready` again. */
  pageGone(): void {
    this.pageReady = false;
    this.queue = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A message from the page. Invalid ones are logged and ignored. */
  async handle(raw: unknown): Promise<void> {
    const parsed = parsePanelMessage(raw);
    if (!parsed.ok) {
      this.deps.log?.(`results panel: ignored a message from the page: ${parsed.reason}`);
      return;
    }
    await this.dispatch(parsed.message);
  }

  /** Results of "Find Similar Images" run from a command: shown in the Search tab. */
  async showSearchResults(imagePath: string, hits: EngineSearchHit[]): Promise<void> {
    const requestId = `host-${++this.hostSearches}`;
    const query = { name: path.basename(imagePath), ...(await this.thumbnailUri(imagePath)) };
    this.hostResult = { type: 'searchResult', requestId, query, hits: await this.toSearchHits(requestId, hits) };
    this.post(this.hostResult);
    // A page still loading gets the tab switch with its snapshot.
    if (this.pageReady) this.post({ type: 'showTab', tab: 'search' });
    else this.pendingTab = 'search';
  }

  dispose(): void {
    this.disposed = true;
    this.detachLive();
    this.pageGone();
  }

  // -------------------------------------------------------------------------

  private async dispatch(m: PanelMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.pageReady = true;
        this.queue = []; // the snapshot below holds them
        this.sendAll();
        return;
      case 'requestThumbnails':
        await this.sendThumbnails(m.images);
        return;
      case 'requestNeighbours': {
        const neighbours = this.gallery?.neighbours(m.query);
        if (neighbours) this.post({ type: 'neighbours', query: m.query, neighbours });
        return;
      }
      case 'openImage': {
        const p = this.gallery?.imagePath(m.image);
        if (p) this.deps.openFile?.(p);
        return;
      }
      case 'openSearchHit': {
        const p = this.searches.get(m.requestId)?.[m.index];
        if (p) this.deps.openFile?.(p);
        return;
      }
      case 'searchImage':
        await this.search(m);
        return;
    }
  }

  private post(m: HostMessage): void {
    if (this.pageReady && !this.disposed) this.deps.post(m);
  }

  private sendRun(): void {
    if (!this.state) return;
    this.post({
      type: 'run',
      ...(this.runDir !== undefined ? { runDir: this.runDir } : {}),
      title: this.runDir ? path.basename(this.runDir) : 'Search by image',
      live: this.live !== undefined,
      state: this.live?.state ?? this.state,
      problems: this.problems,
    });
  }

  private sendAll(): void {
    this.sendRun();
    this.post({ type: 'reports', ...this.reports });
    if (this.gallery || this.galleryReason)
      this.post({
        type: 'gallery',
        gallery: this.gallery?.data ?? null,
        ...(this.galleryReason ? { reason: this.galleryReason } : {}),
      });
    if (this.analysis) this.post(this.analysis);
    if (this.hostResult) this.post(this.hostResult);
    if (this.pendingTab) this.post({ type: 'showTab', tab: this.pendingTab });
    this.pendingTab = undefined;
  }

  /** Reports and gallery named by the run's events or found in its folder. */
  private async loadOutputs(token: number): Promise<void> {
    const runDir = this.runDir;
    const state = this.live?.state ?? this.state;
    if (!runDir || !state) return;
    const outputs = locateRunOutputs(runDir, state);
    const { reports, problems } = await readReports(outputs, state, runDir);
    let gallery: GallerySource | null = null;
    let reason: string | undefined;
    if (outputs.neighbours) {
      try {
        gallery = await GallerySource.read(outputs.neighbours);
      } catch (e) {
        reason = `The query gallery could not be read: ${(e as Error).message}`;
      }
    } else {
      reason =
        state.status === 'running' || state.status === 'starting'
          ? 'The query gallery appears when a benchmark of this run writes its neighbours.'
          : `No benchmark neighbours for ${runDir}: run "vembed: Evaluate" on a checkpoint (it writes neighbours.json) to browse the queries.`;
    }
    if (token !== this.loadToken || this.disposed) return;
    this.reports = reports;
    this.gallery = gallery;
    this.galleryReason = gallery ? undefined : reason;
    // A benchmark folder has a report and neighbours but no events.jsonl: no problem then.
    const benchmarkOnly = state.evaluations.length === 0 && (outputs.after !== undefined || gallery !== null);
    const kept = this.problems.filter((p) => !problems.includes(p) && !(benchmarkOnly && p.includes(EVENTS_FILE)));
    if (problems.length > 0 || kept.length !== this.problems.length) {
      this.problems = [...kept, ...problems];
      this.sendRun();
    }
    this.post({ type: 'reports', ...reports });
    this.post({ type: 'gallery', gallery: gallery?.data ?? null, ...(reason && !gallery ? { reason } : {}) });
    // The Analysis tab: the gallery's benchmark against the same images before fine-tuning.
    const a = gallery
      ? loadAnalysis({
          runDir,
          galleryManifest: gallery.file,
          images: gallery.data.images,
          ...(outputs.before ? { beforeReport: outputs.before } : {}),
        })
      : { analysis: null, reason: reason ?? 'No query gallery, so no map.' };
    this.analysis = { type: 'analysis', ...a };
    this.post(this.analysis);
  }

  private attachLive(live: LiveRunSource): void {
    this.live = live;
    const token = this.loadToken;
    this.liveListener = (e: EngineEvent) => {
      if (!this.pageReady) return;
      this.queue.push(e);
      if (!this.timer) this.timer = setTimeout(() => this.flush(), this.deps.flushMs ?? 100);
      // A new report (epoch 0's is the "before" side) updates the comparison.
      if (e.type === 'evaluation' && e.reportPath) void this.refreshReports(token);
    };
    live.on('event', this.liveListener);
    void live.exited.then((exit) => {
      if (this.live !== live || this.disposed) return;
      this.flush();
      this.detachLive();
      this.state = exit.state;
      this.sendRun();
      return this.loadOutputs(token);
    });
  }

  private async refreshReports(token: number): Promise<void> {
    const runDir = this.runDir;
    const state = this.live?.state;
    if (!runDir || !state) return;
    const { reports } = await readReports(locateRunOutputs(runDir, state), state, runDir);
    if (token !== this.loadToken || this.disposed) return;
    this.reports = reports;
    this.post({ type: 'reports', ...reports });
  }

  private detachLive(): void {
    if (this.live && this.liveListener) this.live.off('event', this.liveListener);
    this.live = undefined;
    this.liveListener = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.queue;
    this.queue = [];
    for (let i = 0; i < events.length; i += MAX_EVENTS_PER_MESSAGE)
      this.post({ type: 'events', events: events.slice(i, i + MAX_EVENTS_PER_MESSAGE) });
  }

  private async sendThumbnails(indexes: number[]): Promise<void> {
    const gallery = this.gallery;
    if (!gallery) return;
    const valid = [...new Set(indexes)].filter((i) => i < gallery.imageCount);
    for (let c = 0; c < valid.length; c += THUMBNAIL_CHUNK) {
      const uris: Record<string, string | null> = {};
      await Promise.all(
        valid.slice(c, c + THUMBNAIL_CHUNK).map(async (i) => {
          const uri = await this.thumbnailUri(gallery.imagePath(i)!);
          uris[i] = uri.thumbnail ?? null;
        }),
      );
      if (gallery !== this.gallery) return;
      this.post({ type: 'thumbnails', uris });
    }
  }

  /** `{ thumbnail }` or `{}` when the image cannot be read (logged once per image). */
  private async thumbnailUri(imagePath: string): Promise<{ thumbnail?: string }> {
    try {
      return { thumbnail: this.deps.toWebviewUri(await this.deps.thumbnails.thumbnail(imagePath)) };
    } catch (e) {
      if (!this.loggedThumbnailErrors.has(imagePath)) {
        this.loggedThumbnailErrors.add(imagePath);
        this.deps.log?.(`results panel: ${(e as Error).message}`);
      }
      return {};
    }
  }

  private async search(m: Extract<PanelMessage, { type: 'searchImage' }>): Promise<void> {
    const failed = (message: string) => this.post({ type: 'searchFailed', requestId: m.requestId, message });
    const hook = this.deps.searchImage;
    if (!hook) {
      failed(
        'Search by image is not connected to the engine in this version: use "vembed: Find Similar Images" from the explorer, or `vembed search` in a terminal.',
      );
      return;
    }
    let imagePath: string;
    let query: { name: string; thumbnail?: string } = { name: m.name };
    try {
      if (m.source.kind === 'bytes') {
        imagePath = await this.writeDroppedImage(m.source.mime, m.source.base64);
      } else {
        imagePath = imageFileFromUri(m.source.uri);
        query = { ...query, ...(await this.thumbnailUri(imagePath)) };
      }
    } catch (e) {
      failed((e as Error).message);
      return;
    }
    let hits: EngineSearchHit[];
    try {
      hits = await hook({ runDir: this.runDir, imagePath, topK: this.deps.topK() });
    } catch (e) {
      failed(`Search failed: ${(e as Error).message}`);
      return;
    }
    this.post({
      type: 'searchResult',
      requestId: m.requestId,
      query,
      hits: await this.toSearchHits(m.requestId, hits),
    });
  }

  /** The bytes of a dropped file, written once under a content hash. */
  private async writeDroppedImage(mime: string, base64: string): Promise<string> {
    const bytes = Buffer.from(base64, 'base64');
    if (bytes.length === 0) throw new Error('The dropped file is empty.');
    if (bytes.length > MAX_SEARCH_IMAGE_BYTES)
      throw new Error(`The image is larger than ${MAX_SEARCH_IMAGE_BYTES / 1024 / 1024} MiB.`);
    const ext = IMAGE_MIME_EXTENSIONS[mime];
    if (!ext) throw new Error(`Images of type ${mime} are not supported; use JPEG, PNG, WebP, GIF, BMP, TIFF or AVIF.`);
    const name = `search-${createHash('sha256').update(bytes).digest('hex').slice(0, 24)}${ext}`;
    const target = path.join(this.deps.scratchDir, name);
    if (!fs.existsSync(target)) {
      await fs.promises.mkdir(this.deps.scratchDir, { recursive: true });
      const tmp = `${target}.${process.pid}.tmp`;
      await fs.promises.writeFile(tmp, bytes);
      await fs.promises.rename(tmp, target);
    }
    return target;
  }

  private async toSearchHits(requestId: string, hits: EngineSearchHit[]): Promise<SearchHit[]> {
    const base = this.runDir ?? process.cwd();
    const out = await Promise.all(
      hits.map(async (h): Promise<SearchHit> => {
        const abs = path.isAbsolute(h.path) ? h.path : path.join(base, h.path);
        // A hit that is a gallery image gets its product and super class from the gallery.
        const index = this.gallery?.indexOfPath(abs);
        const img = index !== undefined ? this.gallery!.data.images[index] : undefined;
        const label = h.label ?? img?.label;
        const superClass = h.superClass ?? img?.superClass;
        return {
          path: abs,
          score: h.score,
          ...(label !== undefined ? { label } : {}),
          ...(superClass !== undefined ? { superClass } : {}),
          ...(await this.thumbnailUri(abs)),
        };
      }),
    );
    this.searches.set(
      requestId,
      out.map((h) => h.path),
    );
    while (this.searches.size > REMEMBERED_SEARCHES) this.searches.delete(this.searches.keys().next().value!);
    return out;
  }
}

/** The before/after reports that exist; unreadable ones become problems to show. */
async function readReports(
  outputs: RunOutputs,
  state: RunState,
  runDir: string,
): Promise<{ reports: { before?: ReportSummary; after?: ReportSummary }; problems: string[] }> {
  const reports: { before?: ReportSummary; after?: ReportSummary } = {};
  const problems: string[] = [];
  for (const side of ['before', 'after'] as const) {
    const file = outputs[side];
    if (!file) continue;
    // Named like the run's own evaluations when the report is one of them.
    const epoch = state.evaluations.find((e) => e.reportPath && path.resolve(runDir, e.reportPath) === file)?.epoch;
    const label = epoch === 0 ? 'epoch 0, before training' : epoch !== undefined ? `epoch ${epoch}` : undefined;
    try {
      reports[side] = await readReport(file, label);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return { reports, problems };
}

/** A file: URI dropped from VS Code's explorer, checked to be an existing image file. */
export function imageFileFromUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new Error(`Not a file URI: ${uri}`);
  }
  if (url.protocol !== 'file:')
    throw new Error(`Only local files can be searched (got a ${url.protocol} URI); save the image locally first.`);
  const file = fileURLToPath(url);
  if (!isSearchableImage(file))
    throw new Error(
      `${path.basename(file)} is not an image vembed can search with (expected ${SEARCHABLE_IMAGE_EXTENSIONS.map((e) => `.${e}`).join(', ')}).`,
    );
  if (!fs.existsSync(file)) throw new Error(`${file} does not exist.`);
  return file;
}
