/**
 * The Search tab: drop an image (a file from the OS, or from VS Code's
 * explorer as a URI) or pick one; the extension embeds it with the run's model
 * and answers with its nearest images, shown with the same neighbour list as
 * the Queries tab.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { MAX_SEARCH_IMAGE_BYTES, type PanelMessage, type SearchImageSource } from '../../../src/shared/panelProtocol';
import { byId } from '../dom';
import type { Action, PanelModel } from '../state';
import { searchView } from '../viewModel';
import { NeighbourList } from './neighbours';

let requestCounter = 0;

export class SearchTab {
  private readonly zone = byId('drop-zone');
  private readonly input = byId<HTMLInputElement>('search-file');
  private readonly pick = byId('pick-image');
  private readonly results: NeighbourList;
  private lastSearch: unknown;

  constructor(
    private readonly dispatch: (a: Action) => void,
    private readonly post: (m: PanelMessage) => void,
  ) {
    this.results = new NeighbourList(byId('search-results'), { post });
    this.pick.addEventListener('click', () => this.input.click());
    this.zone.addEventListener('keydown', (e) => {
      if (e.target === this.zone && (e.key === 'Enter' || e.key === ' ')) {
        e.preventDefault();
        this.input.click();
      }
    });
    this.input.addEventListener('change', () => {
      const file = this.input.files?.[0];
      if (file) void this.searchFile(file);
      this.input.value = '';
    });
    this.zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
      this.zone.classList.add('dragging');
    });
    this.zone.addEventListener('dragleave', () => this.zone.classList.remove('dragging'));
    this.zone.addEventListener('drop', (e) => {
      e.preventDefault();
      this.zone.classList.remove('dragging');
      this.onDrop(e.dataTransfer);
    });
  }

  update(model: PanelModel): void {
    if (model.search === this.lastSearch) return;
    this.lastSearch = model.search;
    this.results.show(searchView(model));
  }

  private onDrop(dt: DataTransfer | null): void {
    if (!dt) return;
    const file = dt.files?.[0];
    if (file) {
      void this.searchFile(file);
      return;
    }
    // From VS Code's explorer: a list of URIs, one a line, '#' lines are comments.
    const uri = (dt.getData('text/uri-list') || dt.getData('text/plain'))
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l.length > 0 && !l.startsWith('#'));
    if (!uri) {
      this.fail(this.start('dropped item'), 'Drop an image file (PNG, JPEG, WebP...).');
      return;
    }
    const name = decodeURIComponent(uri.split(/[\\/]/).pop() ?? uri);
    this.send(this.start(name), name, { kind: 'uri', uri });
  }

  private async searchFile(file: File): Promise<void> {
    if (!file.type.startsWith('image/')) {
      this.fail(this.start(file.name), `${file.name} is not an image (${file.type || 'unknown type'}).`);
      return;
    }
    if (file.size > MAX_SEARCH_IMAGE_BYTES) {
      this.fail(
        this.start(file.name),
        `${file.name} is ${(file.size / 1024 / 1024).toFixed(1)} MiB; the limit is ${MAX_SEARCH_IMAGE_BYTES / 1024 / 1024} MiB.`,
      );
      return;
    }
    const dataUrl = await readAsDataUrl(file);
    const requestId = this.start(file.name, dataUrl);
    const base64 = dataUrl.slice(dataUrl.indexOf(',') + 1);
    this.send(requestId, file.name, { kind: 'bytes', mime: file.type, base64 });
  }

  private start(name: string, preview?: string): string {
    const requestId = `page-${Date.now().toString(36)}-${++requestCounter}`;
    this.dispatch({ type: 'searchStarted', requestId, name, ...(preview !== undefined ? { preview } : {}) });
    return requestId;
  }

  private send(requestId: string, name: string, source: SearchImageSource): void {
    this.post({ type: 'searchImage', requestId, name, source });
  }

  private fail(requestId: string, message: string): void {
    this.dispatch({ type: 'host', message: { type: 'searchFailed', requestId, message } });
  }
}

function readAsDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error ?? new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}
