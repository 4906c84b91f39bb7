/**
 * The Queries tab: a paginated grid of query thumbnails, filterable by super
 * class and by "failed at @1". Arrow keys, Home/End and PageUp/PageDown move
 * through the grid (roving tabindex: one cell is tabbable), Enter opens a
 * query's neighbours, Escape closes them and returns to the cell.
 */
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { PanelMessage } from '../../../src/shared/panelProtocol';
import { byId, el, setChildren, thumbnail } from '../dom';
import { integer } from '../format';
import { NAV_KEYS, filteredQueries, type Action, type NavKey, type PanelModel } from '../state';
import { galleryView, openQueryView, type GalleryCell } from '../viewModel';
import { NeighbourList } from './neighbours';

export class GalleryTab {
  private readonly empty = byId('gallery-empty');
  private readonly body = byId('gallery-body');
  private readonly select = byId('superclass-filter') as HTMLElementTagNameMap['vscode-single-select'];
  private readonly failed = byId('failed-filter') as HTMLElementTagNameMap['vscode-checkbox'];
  private readonly count = byId('gallery-count');
  private readonly pageLabel = byId('page-label');
  private readonly prev = byId('prev-page') as HTMLElementTagNameMap['vscode-button'];
  private readonly next = byId('next-page') as HTMLElementTagNameMap['vscode-button'];
  private readonly grid = byId('gallery-grid');
  private readonly detailHost = byId('query-detail');
  private readonly detail: NeighbourList;

  private gridKey: unknown[] = [];
  private optionsFor: unknown;
  private cells = new Map<
    number,
    { button: HTMLButtonElement; thumb: HTMLElement; uri: string | null | undefined; alt: string }
  >();
  /** Set by keyboard actions: after the next render, DOM focus follows the model's focus. */
  private focusPending: 'grid' | 'detail' | null = null;
  private wasOpen = false;

  constructor(
    private readonly dispatch: (a: Action, now?: boolean) => void,
    post: (m: PanelMessage) => void,
  ) {
    this.detail = new NeighbourList(this.detailHost, {
      post,
      onClose: () => this.close(),
      closeLabel: 'Back to queries (Esc)',
    });
    this.select.addEventListener('change', () => dispatch({ type: 'filter', superClass: this.select.value }));
    this.failed.addEventListener('change', () => dispatch({ type: 'filter', failedOnly: this.failed.checked }));
    this.prev.addEventListener('click', () => this.turnPage(-1));
    this.next.addEventListener('click', () => this.turnPage(1));
    this.grid.addEventListener('keydown', (e) => this.onGridKey(e));
    this.grid.addEventListener('click', (e) => {
      const cell = (e.target as HTMLElement).closest<HTMLElement>('[data-position]');
      if (cell) this.open(Number(cell.dataset.position));
    });
    this.detailHost.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.close();
      }
    });
  }

  private currentPage = 0;

  update(model: PanelModel): void {
    const view = galleryView(model);
    this.empty.hidden = view !== null;
    this.body.hidden = view === null;
    if (!view) {
      this.empty.textContent =
        model.galleryReason ??
        'No query gallery for this run yet: it appears after a benchmark or an evaluation that saves neighbours.';
      return;
    }
    this.currentPage = view.page;
    if (this.optionsFor !== model.gallery) {
      this.optionsFor = model.gallery;
      setChildren(
        this.select,
        el('vscode-option', { text: `All super classes (${integer(view.totalQueries)})`, attrs: { value: '' } }),
        ...view.superClasses.map((s) =>
          el('vscode-option', { text: `${s.name} (${integer(s.count)})`, attrs: { value: s.name } }),
        ),
      );
    }
    if (this.select.value !== model.ui.superClass) this.select.value = model.ui.superClass;
    if (this.failed.checked !== model.ui.failedOnly) this.failed.checked = model.ui.failedOnly;
    const share = view.totalQueries ? ((100 * view.failedAt1) / view.totalQueries).toFixed(1) : '0';
    this.count.textContent = `${integer(view.shown)} of ${integer(view.totalQueries)} queries · ${integer(view.failedAt1)} (${share}%) failed at @1`;
    this.pageLabel.textContent = `Page ${view.page + 1} of ${view.pages}`;
    this.prev.disabled = view.page === 0;
    this.next.disabled = view.page >= view.pages - 1;

    const key = [filteredQueries(model), view.page, model.gallery];
    if (key.some((k, i) => k !== this.gridKey[i])) {
      this.gridKey = key;
      this.renderGrid(view.cells);
    } else {
      for (const c of view.cells) this.refreshThumb(c);
    }
    for (const [position, c] of this.cells) c.button.tabIndex = position === view.focus ? 0 : -1;
    this.grid.setAttribute('aria-label', `Queries, page ${view.page + 1} of ${view.pages}`);

    const open = openQueryView(model);
    this.detail.show(open);
    this.detailHost.hidden = open === null;
    this.grid.hidden = open !== null;
    if (open && !this.wasOpen) this.focusPending = 'detail';
    this.wasOpen = open !== null;

    if (this.focusPending === 'grid') this.cells.get(view.focus)?.button.focus();
    else if (this.focusPending === 'detail') this.detail.focus();
    this.focusPending = null;
  }

  private renderGrid(cells: GalleryCell[]): void {
    this.cells.clear();
    setChildren(this.grid, ...cells.map((c) => this.cell(c)));
  }

  private cell(c: GalleryCell): HTMLElement {
    const rankText = c.firstCorrectRank === null ? '✗' : c.firstCorrectRank === 1 ? '@1 ✓' : `@${c.firstCorrectRank}`;
    const rankWords =
      c.firstCorrectRank === null
        ? 'no correct match in the top K'
        : c.firstCorrectRank === 1
          ? 'correct at rank 1'
          : `first correct at rank ${c.firstCorrectRank}`;
    const alt = `${c.name}${c.superClass ? `, ${c.superClass}` : ''}`;
    const thumb = thumbnail(c.thumbnail, alt);
    const button = el(
      'button',
      {
        class: `cell${c.failedAt1 ? ' failed' : ' passed'}`,
        attrs: {
          type: 'button',
          tabindex: -1,
          'data-position': c.position,
          'data-query': c.query,
          'data-super-class': c.superClass,
          'data-first-correct-rank': c.firstCorrectRank === null ? 'none' : c.firstCorrectRank,
          title: c.path,
          'aria-label': `${alt}, product ${c.label}, ${rankWords}`,
        },
      },
      thumb,
      el('span', {
        class: `cell-rank ${c.failedAt1 ? 'fail' : 'pass'}`,
        text: rankText,
        attrs: { 'aria-hidden': 'true' },
      }),
      el('span', { class: 'cell-name', text: c.name, attrs: { 'aria-hidden': 'true' } }),
    );
    this.cells.set(c.position, { button, thumb, uri: c.thumbnail, alt });
    return button;
  }

  private refreshThumb(c: GalleryCell): void {
    const entry = this.cells.get(c.position);
    if (!entry || entry.uri === c.thumbnail) return;
    const node = thumbnail(c.thumbnail, entry.alt);
    entry.thumb.replaceWith(node);
    this.cells.set(c.position, { ...entry, thumb: node, uri: c.thumbnail });
  }

  /** Cells per row as laid out now (CSS grid with auto-fill columns). */
  private columns(): number {
    const template = getComputedStyle(this.grid).gridTemplateColumns;
    const n = template.split(' ').filter((s) => s.trim().length > 0).length;
    return Math.max(1, n);
  }

  private onGridKey(e: KeyboardEvent): void {
    if (NAV_KEYS.has(e.key)) {
      e.preventDefault();
      this.focusPending = 'grid';
      this.dispatch({ type: 'navigate', key: e.key as NavKey, columns: this.columns() }, true);
    }
  }

  private open(position: number): void {
    this.dispatch({ type: 'openQuery', position }, true);
  }

  /** Close the open query and put focus back on its cell. */
  close(): void {
    this.focusPending = 'grid';
    this.dispatch({ type: 'closeQuery' }, true);
  }

  private turnPage(delta: number): void {
    this.dispatch({ type: 'page', page: this.currentPage + delta });
  }
}
