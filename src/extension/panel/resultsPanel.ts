/**
 * The results panel in VS Code: a WebviewPanel per run folder, connected to a
 * PanelSession (which holds the logic), and the serializer that brings the
 * panels back after a window reload. The page keeps its run folder and view
 * (tab, filter, page, open query) with `setState`; VS Code hands that state
 * to `deserializeWebviewPanel`, so no context is retained while hidden.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RESULTS_VIEW_TYPE, type PanelPersistedState } from '../../shared/panelProtocol';
import { loadWebviewPage, lockedDownOptions, webviewBundleDir } from './webviewPage';
import { PanelSession, type LiveRunSource } from './panelSession';
import type { EngineSearchHit, SearchImageHook } from './panelSearch';
import { ThumbnailCache } from './thumbnails';

export interface ResultsPanelsOptions {
  extensionUri: vscode.Uri;
  /** `context.globalStorageUri`: the thumbnail cache and dropped images go under it. */
  storageUri: vscode.Uri;
  /** The engine process running in a run folder, if any (the panel then follows it live). */
  liveRun?(runDir: string): LiveRunSource | undefined;
  /** Search by image from the panel; without it the page says the search is not available. */
  searchImage?: SearchImageHook;
  log?: vscode.LogOutputChannel;
  /** The user opened a query's neighbours (the walkthrough's "click a query" step). */
  onQueryOpened?(): void;
}

export class ResultsPanels implements vscode.WebviewPanelSerializer<PanelPersistedState>, vscode.Disposable {
  private readonly panels = new Set<ResultsPanel>();
  private readonly thumbnails: ThumbnailCache;

  constructor(private readonly options: ResultsPanelsOptions) {
    this.thumbnails = new ThumbnailCache(this.thumbnailDir.fsPath);
  }

  private get thumbnailDir(): vscode.Uri {
    return vscode.Uri.joinPath(this.options.storageUri, 'thumbnails');
  }

  /** Open (or reveal and refresh) the panel of a run folder. */
  showRun(runDir: string): void {
    const dir = path.resolve(runDir);
    const existing = this.find(dir);
    if (existing) {
      existing.panel.reveal();
      // A live panel is current already; a finished run may have new reports.
      if (!existing.session.isLive) void existing.open(dir, this.options.liveRun?.(dir));
      return;
    }
    const panel = vscode.window.createWebviewPanel(RESULTS_VIEW_TYPE, titleFor(dir), vscode.ViewColumn.Active, {
      enableFindWidget: true,
    });
    void this.adopt(panel).open(dir, this.options.liveRun?.(dir));
  }

  /** Results of a search run by a command, in the given run's panel (or the last one shown). */
  showSearchResults(imagePath: string, results: EngineSearchHit[], runDir?: string): void {
    const target = (runDir ? this.find(path.resolve(runDir)) : undefined) ?? [...this.panels].pop();
    if (target) {
      target.panel.reveal();
      void target.session.showSearchResults(imagePath, results);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      RESULTS_VIEW_TYPE,
      `vembed: ${path.basename(imagePath)}`,
      vscode.ViewColumn.Active,
      { enableFindWidget: true },
    );
    const adopted = this.adopt(panel);
    void (
      runDir ? adopted.open(path.resolve(runDir), this.options.liveRun?.(path.resolve(runDir))) : Promise.resolve()
    ).then(() => adopted.session.showSearchResults(imagePath, results));
  }

  /** A run started (training, resume): an open panel of its folder switches to following it. */
  onRunStarted(runDir: string, live: LiveRunSource): void {
    const existing = this.find(path.resolve(runDir));
    if (existing) void existing.open(path.resolve(runDir), live);
  }

  async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: PanelPersistedState | undefined): Promise<void> {
    const adopted = this.adopt(panel);
    const runDir = typeof state?.runDir === 'string' ? state.runDir : undefined;
    if (runDir) await adopted.open(runDir, this.options.liveRun?.(runDir));
  }

  dispose(): void {
    for (const p of [...this.panels]) p.panel.dispose();
  }

  private find(runDir: string): ResultsPanel | undefined {
    return [...this.panels].find((p) => p.session.currentRunDir === runDir);
  }

  /** Give a panel (new or restored) its options, page and session. */
  private adopt(panel: vscode.WebviewPanel): ResultsPanel {
    const p = new ResultsPanel(panel, {
      extensionUri: this.options.extensionUri,
      roots: [webviewBundleDir(this.options.extensionUri), this.thumbnailDir],
      thumbnails: this.thumbnails,
      scratchDir: vscode.Uri.joinPath(this.options.storageUri, 'search').fsPath,
      ...(this.options.searchImage ? { searchImage: this.options.searchImage } : {}),
      ...(this.options.log ? { log: this.options.log } : {}),
      ...(this.options.onQueryOpened ? { onQueryOpened: this.options.onQueryOpened } : {}),
    });
    this.panels.add(p);
    panel.onDidDispose(() => {
      this.panels.delete(p);
      p.session.dispose();
    });
    return p;
  }
}

interface PanelDeps {
  extensionUri: vscode.Uri;
  roots: vscode.Uri[];
  thumbnails: ThumbnailCache;
  scratchDir: string;
  searchImage?: SearchImageHook;
  log?: vscode.LogOutputChannel;
  onQueryOpened?(): void;
}

class ResultsPanel {
  readonly session: PanelSession;

  constructor(
    readonly panel: vscode.WebviewPanel,
    deps: PanelDeps,
  ) {
    const webview = panel.webview;
    // Local resources: the page's bundle and the thumbnails (deps.roots), nothing else.
    webview.options = lockedDownOptions(deps.roots);
    loadWebviewPage(webview, deps.extensionUri, 'main', panel.title);
    this.session = new PanelSession({
      post: (m) => void webview.postMessage(m),
      toWebviewUri: (fsPath) => webview.asWebviewUri(vscode.Uri.file(fsPath)).toString(),
      thumbnails: deps.thumbnails,
      scratchDir: deps.scratchDir,
      topK: () => vscode.workspace.getConfiguration('vembed').get<number>('topK', 20),
      ...(deps.searchImage ? { searchImage: deps.searchImage } : {}),
      openFile: (fsPath) =>
        void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(fsPath), {
          preview: true,
          viewColumn: vscode.ViewColumn.Beside,
        }),
      log: (message) => deps.log?.warn(message),
      ...(deps.onQueryOpened ? { onQueryOpened: deps.onQueryOpened } : {}),
    });
    webview.onDidReceiveMessage((m: unknown) =>
      this.session.handle(m).catch((e: unknown) => deps.log?.error(`results panel: ${(e as Error).message}`)),
    );
    panel.onDidChangeViewState(() => {
      // VS Code drops a hidden panel's page; it says `ready` again when shown.
      if (!panel.visible) this.session.pageGone();
    });
  }

  async open(runDir: string, live: LiveRunSource | undefined): Promise<void> {
    this.panel.title = titleFor(runDir);
    try {
      await this.session.openRun(runDir, live);
    } catch (e) {
      void vscode.window.showErrorMessage(`vembed: cannot open the results of ${runDir}: ${(e as Error).message}`);
    }
  }
}

function titleFor(runDir: string): string {
  return `vembed: ${path.basename(runDir)}`;
}
