/**
 * The extension's half of one results panel, without `vscode`: what to send
 * the page for a run (live or finished), and the answers to the page's
 * requests. ResultsPanel (./resultsPanel.ts) only connects it to a webview;
 * the tests drive it directly.
 *
 * The page may reload at any time (VS Code drops a hidden webview's page), so
 * every `ready` gets a full snapshot: the run's state as now, then reports and
 * gallery. Live events are batched (one message per `flushMs`, ./eventBatcher)
 * and dropped while no page listens, since the next snapshot holds them.
 * Search by image is ./panelSearch, thumbnails' URIs ./thumbnailLinks.
 */
import * as path from 'node:path';
import { parsePanelMessage, type HostMessage, type PanelMessage, type PanelTab } from '../../shared/panelProtocol';
import type { EngineEvent } from '../../shared/protocol';
import type { RunState } from '../../shared/runState';
import { EVENTS_FILE } from '../engineClient/runFiles';
import { EventBatcher } from './eventBatcher';
import { GallerySource } from './gallery';
import { loadAnalysis } from './analysisSource';
import { loadDataHealth, type LoadedHealth } from './healthSource';
import { PanelSearch, type EngineSearchHit, type SearchImageHook } from './panelSearch';
import { readReports, type BeforeAfterReports } from './reports';
import { loadRunFolder, locateRunOutputs } from './runFolder';
import { ThumbnailLinks } from './thumbnailLinks';
import type { ThumbnailCache } from './thumbnails';

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
  /** The page showed a query's neighbours (the walkthrough's "click a query" step completes on it). */
  onQueryOpened?(): void;
  /** Batching interval of live events, ms. */
  flushMs?: number;
}

/** Thumbnails sent per message, so the first cells fill in before the last are made. */
const THUMBNAIL_CHUNK = 20;

export class PanelSession {
  private runDir: string | undefined;
  private state: RunState | undefined;
  private problems: string[] = [];
  private live: LiveRunSource | undefined;
  private liveListener: ((e: EngineEvent) => void) | undefined;
  private reports: BeforeAfterReports = {};
  private gallery: GallerySource | null = null;
  private galleryReason: string | undefined;
  private analysis: Extract<HostMessage, { type: 'analysis' }> | undefined;
  private health: LoadedHealth | undefined;
  private pageReady = false;
  private readonly events: EventBatcher;
  private readonly links: ThumbnailLinks;
  private readonly searches: PanelSearch;
  private hostResult: HostMessage | undefined;
  private hostSearches = 0;
  private pendingTab: PanelTab | undefined;
  private loadToken = 0;
  private disposed = false;

  constructor(private readonly deps: PanelSessionDeps) {
    this.events = new EventBatcher((events) => this.post({ type: 'events', events }), deps.flushMs ?? 100);
    this.links = new ThumbnailLinks(deps.thumbnails, deps.toWebviewUri, deps.log);
    this.searches = new PanelSearch({
      hook: deps.searchImage,
      topK: deps.topK,
      scratchDir: deps.scratchDir,
      links: this.links,
      post: (m) => this.post(m),
      runDir: () => this.runDir,
      gallery: () => this.gallery,
    });
  }

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
    this.health = undefined;
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
    this.events.clear();
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
    this.hostResult = await this.searches.resultMessage(`host-${++this.hostSearches}`, imagePath, hits);
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
        this.events.clear(); // the snapshot below holds them
        this.sendAll();
        return;
      case 'requestThumbnails':
        await this.sendThumbnails(m.images);
        return;
      case 'requestNeighbours': {
        const neighbours = this.gallery?.neighbours(m.query);
        if (neighbours) {
          this.post({ type: 'neighbours', query: m.query, neighbours });
          this.deps.onQueryOpened?.();
        }
        return;
      }
      case 'openImage': {
        const p = this.gallery?.imagePath(m.image);
        if (p) this.deps.openFile?.(p);
        return;
      }
      case 'openHealthImage': {
        const p = this.health?.paths[m.image];
        if (p) this.deps.openFile?.(p);
        return;
      }
      case 'openSearchHit': {
        const p = this.searches.hitPath(m.requestId, m.index);
        if (p) this.deps.openFile?.(p);
        return;
      }
      case 'searchImage':
        await this.searches.search(m);
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
    if (this.health) this.post(this.health.message);
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
    // The data-health report: a training run writes it before its first step.
    const health = await loadDataHealth(runDir, this.links);
    if (token !== this.loadToken || this.disposed) return;
    this.health = health;
    this.post(health.message);
  }

  private attachLive(live: LiveRunSource): void {
    this.live = live;
    const token = this.loadToken;
    this.liveListener = (e: EngineEvent) => {
      if (!this.pageReady) return;
      this.events.push(e);
      // A new report (epoch 0's is the "before" side) updates the comparison.
      if (e.type === 'evaluation' && e.reportPath) void this.refreshReports(token);
      // The data-health check has written its report (it says so in one log line, or a leakage warning).
      if ((e.type === 'log' && e.message.startsWith('data health:')) || (e.type === 'warning' && e.code === 'leakage'))
        void this.refreshHealth(token);
    };
    live.on('event', this.liveListener);
    void live.exited.then((exit) => {
      if (this.live !== live || this.disposed) return;
      this.events.flush();
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

  private async refreshHealth(token: number): Promise<void> {
    const runDir = this.runDir;
    if (!runDir) return;
    const health = await loadDataHealth(runDir, this.links);
    if (token !== this.loadToken || this.disposed) return;
    this.health = health;
    this.post(health.message);
  }

  private detachLive(): void {
    if (this.live && this.liveListener) this.live.off('event', this.liveListener);
    this.live = undefined;
    this.liveListener = undefined;
    this.events.clear();
  }

  private async sendThumbnails(indexes: number[]): Promise<void> {
    const gallery = this.gallery;
    if (!gallery) return;
    const valid = [...new Set(indexes)].filter((i) => i < gallery.imageCount);
    for (let c = 0; c < valid.length; c += THUMBNAIL_CHUNK) {
      const uris: Record<string, string | null> = {};
      await Promise.all(
        valid.slice(c, c + THUMBNAIL_CHUNK).map(async (i) => {
          const uri = await this.links.link(gallery.imagePath(i)!);
          uris[i] = uri.thumbnail ?? null;
        }),
      );
      if (gallery !== this.gallery) return;
      this.post({ type: 'thumbnails', uris });
    }
  }
}
