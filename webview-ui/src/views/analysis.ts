/**
 * The "Map and errors" tab: the embeddings map before and after fine-tuning,
 * side by side on canvases (one fillRect per point, never a DOM node: SOP has
 * 60,502), and the error analysis tables.
 *
 * Pointer: hover shows the image's thumbnail and product; a click opens its
 * query's neighbours in the Queries tab; dragging draws a box that selects the
 * points inside it, listed below the maps and highlighted on both sides (the
 * same images before and after). Escape or a click on empty space clears it.
 */
import type { AnalysisData, GalleryImage, MapSide, PanelMessage } from '../../../src/shared/panelProtocol';
import { superClassTable, type QueryChange } from '../../../src/shared/analysis/errorAnalysis';
import { byId, el, setChildren, thumbnail } from '../dom';
import { integer, percent, points } from '../format';
import {
  colourGroups,
  fitTransform,
  pointsInBox,
  PointGrid,
  toScreen,
  type Box,
  type ColourGroups,
  type Transform,
} from '../mapModel';
import type { Action, PanelModel } from '../state';
import { table } from './table';

/** Rows of the selection list drawn at once (the count says how many there are). */
const LISTED = 100;
/** A drag shorter than this (pixels) is a click. */
const CLICK_SLOP = 4;

function cssVar(name: string, fallback: string): string {
  const v =
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() ||
    getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

/** Twelve distinct theme colours: VS Code's chart palette, then terminal colours (also theme-defined). */
function palette(): string[] {
  return [
    cssVar('--vscode-charts-blue', '#3794ff'),
    cssVar('--vscode-charts-orange', '#d18616'),
    cssVar('--vscode-charts-green', '#89d185'),
    cssVar('--vscode-charts-red', '#f14c4c'),
    cssVar('--vscode-charts-purple', '#b180d7'),
    cssVar('--vscode-charts-yellow', '#cca700'),
    cssVar('--vscode-terminal-ansiCyan', '#11a8cd'),
    cssVar('--vscode-terminal-ansiMagenta', '#bc3fbc'),
    cssVar('--vscode-terminal-ansiBrightGreen', '#23d18b'),
    cssVar('--vscode-terminal-ansiBrightBlack', '#808080'),
    cssVar('--vscode-terminal-ansiBrightCyan', '#29b8db'),
    cssVar('--vscode-terminal-ansiBrightYellow', '#f5f543'),
  ];
}

interface Side {
  key: 'before' | 'after';
  figure: HTMLElement;
  caption: HTMLElement;
  stage: HTMLElement;
  canvas: HTMLCanvasElement;
  overlay: HTMLCanvasElement;
  data?: MapSide;
  transform?: Transform;
  px?: Float32Array;
  py?: Float32Array;
  grid?: PointGrid;
  width: number;
  height: number;
}

export class AnalysisTab {
  private readonly root = byId('analysis-root');
  private readonly empty = el('p', { class: 'muted', attrs: { id: 'analysis-empty' } });
  private readonly body = el('div', { attrs: { id: 'analysis-body' } });
  private readonly info = el('p', { class: 'muted', attrs: { id: 'map-info' } });
  private readonly legend = el('div', { class: 'map-legend', attrs: { id: 'map-legend', 'aria-label': 'Colours' } });
  private readonly tooltip = el('div', {
    class: 'map-tooltip',
    attrs: { id: 'map-tooltip', hidden: true, role: 'status' },
  });
  private readonly selection = el('div', { attrs: { id: 'map-selection', 'aria-live': 'polite' } });
  private readonly notes = el('ul', { class: 'muted', attrs: { id: 'analysis-notes' } });
  private readonly errors = el('div', { attrs: { id: 'error-analysis' } });
  private readonly sides: Side[];

  private shownAnalysis: AnalysisData | null | undefined;
  private shownGallery: unknown;
  private shownErrors: unknown;
  private groups: ColourGroups | undefined;
  private images: readonly GalleryImage[] = [];
  /** Images that are gallery queries (a product's only image is not: it has no neighbours to open). */
  private queryImages = new Set<number>();
  private thumbs: Record<number, string | null> = {};
  private readonly askedThumbs = new Set<number>();
  private selected: number[] = [];
  private selectedSet: Uint8Array = new Uint8Array(0);
  private hovered = -1;
  private drag: { side: Side; box: Box } | null = null;
  private dataArrived = 0;
  private sizeKey = '';

  constructor(
    private readonly dispatch: (a: Action, now?: boolean) => void,
    private readonly post: (m: PanelMessage) => void,
  ) {
    this.sides = (['before', 'after'] as const).map((key) => this.side(key));
    this.root.append(this.empty, this.body);
    this.body.append(
      el(
        'section',
        { class: 'block', attrs: { 'aria-labelledby': 'map-title' } },
        el('h2', { text: 'Embeddings map', attrs: { id: 'map-title' } }),
        this.info,
        el('div', { class: 'map-row' }, ...this.sides.map((s) => s.figure)),
        this.legend,
        this.selection,
      ),
      this.notes,
      el(
        'section',
        { class: 'block', attrs: { 'aria-labelledby': 'errors-title' } },
        el('h2', { text: 'Error analysis', attrs: { id: 'errors-title' } }),
        this.errors,
      ),
      this.tooltip,
    );
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.selected.length > 0 && document.body.dataset.tab === 'analysis') this.select([]);
    });
    // Only a change of width resizes the maps (their own height must not feed back), after the
    // observer's turn (sizing canvases inside it would loop); a hidden tab (width 0) waits for update().
    let observedWidth = 0;
    new ResizeObserver((entries) => {
      const width = Math.round(entries[0]?.contentRect.width ?? 0);
      if (width === observedWidth || width === 0) return;
      observedWidth = width;
      requestAnimationFrame(() => {
        if (this.shownAnalysis && this.root.clientWidth > 0) this.layout(false);
      });
    }).observe(this.root);
    this.errors.addEventListener('click', (e) => {
      const b = (e.target as HTMLElement).closest<HTMLElement>('[data-image]');
      if (b) this.openImage(Number(b.dataset.image));
    });
    this.selection.addEventListener('click', (e) => {
      const b = (e.target as HTMLElement).closest<HTMLElement>('[data-image]');
      if (b) this.openImage(Number(b.dataset.image));
    });
  }

  private side(key: 'before' | 'after'): Side {
    const canvas = el('canvas', { class: 'map-canvas', attrs: { 'data-side': key } });
    const overlay = el('canvas', {
      class: 'map-overlay',
      attrs: {
        'data-side': key,
        role: 'img',
        'aria-label': `Embeddings map ${key} fine-tuning: hover a point for its image, click to open its neighbours, drag to select`,
      },
    });
    const stage = el('div', { class: 'map-stage' }, canvas, overlay);
    const caption = el('figcaption', { class: 'map-caption' });
    const figure = el('figure', { class: 'map-side', attrs: { 'data-side': key } }, caption, stage);
    const side: Side = { key, figure, caption, stage, canvas, overlay, width: 0, height: 0 };
    overlay.addEventListener('pointermove', (e) => this.onMove(side, e));
    overlay.addEventListener('pointerleave', () => this.hover(-1));
    overlay.addEventListener('pointerdown', (e) => {
      overlay.setPointerCapture(e.pointerId);
      const { x, y } = this.local(side, e);
      this.drag = { side, box: { x0: x, y0: y, x1: x, y1: y } };
    });
    overlay.addEventListener('pointerup', (e) => this.onUp(side, e));
    return side;
  }

  update(model: PanelModel): void {
    const a = model.analysis;
    this.thumbs = model.thumbs;
    const visible = model.ui.tab === 'analysis';
    this.empty.hidden = a !== null;
    this.body.hidden = a === null;
    if (!a) {
      this.empty.textContent =
        model.analysisReason ??
        'The embeddings map and error analysis appear with the benchmark neighbours of this run.';
      this.shownAnalysis = a;
      return;
    }
    const images = model.gallery?.images ?? [];
    const newData = a !== this.shownAnalysis || model.gallery !== this.shownGallery;
    if (newData) {
      this.dataArrived = performance.now();
      this.shownAnalysis = a;
      this.shownGallery = model.gallery;
      this.images = images;
      this.queryImages = new Set((model.gallery?.queries ?? []).map((q) => q.image));
      this.groups = colourGroups(images);
      this.selected = [];
      this.selectedSet = new Uint8Array(images.length);
      this.hovered = -1;
      for (const s of this.sides) {
        const d = a[s.key];
        if (d && d.x.length === images.length) s.data = d;
        else delete s.data;
        s.figure.hidden = !s.data;
      }
      this.sizeKey = '';
      this.renderInfo(a);
      this.renderNotes(a);
    }
    if (a.errors !== this.shownErrors || newData) {
      this.shownErrors = a.errors;
      this.renderErrors(a);
    }
    // Canvases are measured and drawn only while the tab shows (a hidden tab has no size).
    if (visible) this.layout(newData);
    if (this.selected.length > 0) this.renderSelection();
    if (this.hovered >= 0) this.renderTooltipThumb();
  }

  // ---------------------------------------------------------------------------
  // Drawing

  /** Size the canvases to their boxes; redraw when the size or the data changed. */
  private layout(force: boolean): void {
    const shown = this.sides.filter((s) => s.data);
    if (shown.length === 0) return;
    const rowWidth = (this.root.clientWidth || 800) - 16;
    const width = Math.max(200, Math.floor((rowWidth - 16 * (shown.length - 1)) / shown.length));
    const height = Math.max(180, Math.min(460, Math.round(width * 0.75)));
    const key = `${width}x${height}x${window.devicePixelRatio}`;
    if (!force && key === this.sizeKey) return;
    this.sizeKey = key;
    const started = performance.now();
    for (const s of shown) {
      s.width = width;
      s.height = height;
      const d = s.data!;
      s.transform = fitTransform(d.x, d.y, width, height);
      const { px, py } = toScreen(d.x, d.y, s.transform);
      s.px = px;
      s.py = py;
      s.grid = new PointGrid(px, py, width, height);
      for (const c of [s.canvas, s.overlay]) {
        c.width = Math.round(width * devicePixelRatio);
        c.height = Math.round(height * devicePixelRatio);
        c.style.width = `${width}px`;
        c.style.height = `${height}px`;
      }
      s.stage.style.width = `${width}px`;
      s.stage.style.height = `${height}px`;
      s.canvas.dataset.transform = JSON.stringify(s.transform);
      this.drawPoints(s);
      this.drawOverlay(s);
    }
    const now = performance.now();
    // What the browser tests read: time to draw, and time since the data arrived.
    this.root.dataset.drawMs = (now - started).toFixed(1);
    if (force) this.root.dataset.renderMs = (now - this.dataArrived).toFixed(1);
    this.root.dataset.drawn = String(Number(this.root.dataset.drawn ?? '0') + 1);
  }

  private drawPoints(s: Side): void {
    const ctx = s.canvas.getContext('2d');
    if (!ctx || !s.px || !s.py || !this.groups) return;
    const dpr = devicePixelRatio;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, s.width, s.height);
    const colours = palette();
    const n = s.px.length;
    const size = n > 20_000 ? 2 : 3;
    const half = size / 2;
    const selecting = this.selected.length > 0;
    // One fill colour at a time: grouping the points by colour keeps canvas state changes to a dozen.
    const byGroup: number[][] = this.groups.names.map(() => []);
    for (let i = 0; i < n; i++) byGroup[this.groups.group[i]!]!.push(i);
    ctx.globalAlpha = selecting ? 0.18 : n > 20_000 ? 0.75 : 0.9;
    byGroup.forEach((list, g) => {
      ctx.fillStyle = colours[g % colours.length]!;
      for (const i of list) ctx.fillRect(s.px![i]! - half, s.py![i]! - half, size, size);
    });
    if (selecting) {
      ctx.globalAlpha = 1;
      for (const i of this.selected) {
        ctx.fillStyle = colours[this.groups.group[i]! % colours.length]!;
        ctx.fillRect(s.px[i]! - 1.5, s.py[i]! - 1.5, 3, 3);
      }
    }
    ctx.globalAlpha = 1;
  }

  /** Hover ring and selection box, on a canvas above the points (so moving the pointer redraws no points). */
  private drawOverlay(s: Side): void {
    const ctx = s.overlay.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
    ctx.clearRect(0, 0, s.width, s.height);
    const fg = cssVar('--vscode-foreground', '#cccccc');
    if (this.hovered >= 0 && s.px && s.py) {
      ctx.strokeStyle = fg;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.arc(s.px[this.hovered]!, s.py[this.hovered]!, 5, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (this.drag && this.drag.side === s) {
      const b = this.drag.box;
      ctx.strokeStyle = cssVar('--vscode-focusBorder', fg);
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(Math.min(b.x0, b.x1), Math.min(b.y0, b.y1), Math.abs(b.x1 - b.x0), Math.abs(b.y1 - b.y0));
      ctx.setLineDash([]);
    }
  }

  // ---------------------------------------------------------------------------
  // Pointer

  private local(s: Side, e: PointerEvent): { x: number; y: number } {
    const r = s.overlay.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private onMove(s: Side, e: PointerEvent): void {
    const p = this.local(s, e);
    if (this.drag && this.drag.side === s) {
      this.drag.box.x1 = p.x;
      this.drag.box.y1 = p.y;
      this.drawOverlay(s);
      return;
    }
    const i = s.grid ? s.grid.nearest(p.x, p.y) : -1;
    this.hover(i, s, e);
  }

  private onUp(s: Side, e: PointerEvent): void {
    const drag = this.drag;
    this.drag = null;
    if (!drag || drag.side !== s) return;
    const p = this.local(s, e);
    drag.box.x1 = p.x;
    drag.box.y1 = p.y;
    const moved = Math.abs(drag.box.x1 - drag.box.x0) + Math.abs(drag.box.y1 - drag.box.y0);
    if (moved < CLICK_SLOP) {
      const i = s.grid ? s.grid.nearest(p.x, p.y) : -1;
      if (i >= 0) this.openImage(i);
      else this.select([]);
      this.drawOverlay(s);
      return;
    }
    this.select(s.px && s.py ? pointsInBox(s.px, s.py, drag.box) : []);
    this.drawOverlay(s);
  }

  private hover(i: number, s?: Side, e?: PointerEvent): void {
    if (i === this.hovered && (i < 0 || !e)) return;
    this.hovered = i;
    for (const side of this.sides) if (side.data) this.drawOverlay(side);
    if (i < 0 || !s || !e) {
      this.tooltip.hidden = true;
      return;
    }
    const im = this.images[i];
    if (!im) return;
    this.askThumbs([i]);
    setChildren(
      this.tooltip,
      el('div', { class: 'map-tooltip-thumb' }),
      el('div', { class: 'map-tooltip-product', text: `Product ${String(im.label)}` }),
      im.superClass ? el('div', { class: 'muted', text: im.superClass }) : null,
      el('div', { class: 'muted map-tooltip-path', text: im.path }),
      this.queryImages.has(i)
        ? null
        : el('div', { class: 'muted', text: 'The only image of its product: not a query.' }),
    );
    this.tooltip.dataset.image = String(i);
    this.renderTooltipThumb();
    this.tooltip.hidden = false;
    const r = this.root.getBoundingClientRect();
    const x = e.clientX - r.left + 14;
    const y = e.clientY - r.top + 14;
    this.tooltip.style.left = `${Math.min(x, r.width - 200)}px`;
    this.tooltip.style.top = `${y}px`;
  }

  private renderTooltipThumb(): void {
    const host = this.tooltip.querySelector('.map-tooltip-thumb');
    const i = this.hovered;
    if (!host || i < 0) return;
    const uri = this.thumbs[i];
    if (host.getAttribute('data-uri') === String(uri)) return;
    host.setAttribute('data-uri', String(uri));
    setChildren(host, thumbnail(uri, this.images[i]?.path ?? ''));
  }

  private askThumbs(images: number[]): void {
    const want = images.filter((i) => !(i in this.thumbs) && !this.askedThumbs.has(i));
    if (want.length === 0) return;
    want.forEach((i) => this.askedThumbs.add(i));
    this.post({ type: 'requestThumbnails', images: want });
  }

  private openImage(image: number): void {
    this.tooltip.hidden = true;
    this.dispatch({ type: 'openImageQuery', image }, true);
  }

  private select(list: number[]): void {
    this.selected = list;
    this.selectedSet.fill(0);
    for (const i of list) this.selectedSet[i] = 1;
    for (const s of this.sides) if (s.data) this.drawPoints(s);
    this.askThumbs(list.slice(0, LISTED));
    this.renderSelection();
  }

  // ---------------------------------------------------------------------------
  // Text

  private renderInfo(a: AnalysisData): void {
    const g = this.groups!;
    const parts = [
      `${integer(this.images.length)} images`,
      g.by === 'none' ? 'one colour' : `coloured by ${g.by} (${g.names.length})`,
      'hover for the image, click to open its neighbours, drag a box to select',
    ];
    this.info.textContent = parts.join(' · ') + '.';
    for (const s of this.sides) {
      const d = a[s.key];
      if (!d) continue;
      const variance = d.varianceRatio.length
        ? ` · axes hold ${d.varianceRatio.map((v) => percent(v, 1)).join(' + ')} of the variance`
        : '';
      setChildren(
        s.caption,
        el('strong', { text: s.key === 'before' ? 'Before fine-tuning' : 'After fine-tuning' }),
        ` (${d.label.replace(/^(before|after): /, '')}) · ${d.method.toUpperCase()} in ${seconds(d.seconds)}${variance}`,
      );
      s.caption.dataset.seconds = String(d.seconds);
    }
    setChildren(
      this.legend,
      ...g.names.map((name, i) =>
        el(
          'span',
          { class: 'map-legend-item' },
          el('span', { class: `map-swatch swatch-${i % 12}`, attrs: { 'aria-hidden': 'true' } }),
          name,
        ),
      ),
    );
  }

  private renderNotes(a: AnalysisData): void {
    setChildren(this.notes, ...a.notes.map((n) => el('li', { text: n })));
    this.notes.hidden = a.notes.length === 0;
  }

  private renderSelection(): void {
    const list = this.selected;
    if (list.length === 0) {
      setChildren(this.selection);
      return;
    }
    const rows = list.slice(0, LISTED).map((i) => {
      const im = this.images[i]!;
      return el(
        'button',
        {
          class: 'map-pick',
          attrs: { type: 'button', 'data-image': i, title: `${im.path}: open its neighbours` },
        },
        thumbnail(this.thumbs[i], im.path, 'thumb map-pick-thumb'),
        el('span', { text: `Product ${String(im.label)}` }),
        im.superClass ? el('span', { class: 'muted', text: im.superClass }) : null,
      );
    });
    setChildren(
      this.selection,
      el('p', {
        attrs: { id: 'map-selection-count' },
        text: `${integer(list.length)} images selected${list.length > LISTED ? ` (first ${LISTED} listed)` : ''}; Escape clears.`,
      }),
      el('div', { class: 'map-picks' }, ...rows),
    );
  }

  private renderErrors(a: AnalysisData): void {
    const e = a.errors;
    if (!e) {
      setChildren(
        this.errors,
        el('p', {
          class: 'muted',
          text: 'Needs a benchmark of the same images before fine-tuning (see the notes above).',
        }),
      );
      return;
    }
    const cap = e.rankCap;
    const rank = (r: number | null) => (r === null ? `>${cap}` : String(r));
    const change = (q: QueryChange, kind: 'improved' | 'regressed') => {
      const im = this.images[q.image];
      return el(
        'li',
        {},
        el(
          'button',
          {
            class: `link-button ${kind}`,
            attrs: { type: 'button', 'data-image': q.image, title: `${im?.path ?? ''}: open its neighbours` },
          },
          `${rank(q.before)} → ${rank(q.after)}`,
        ),
        ` product ${String(im?.label ?? '?')}${im?.superClass ? ` · ${im.superClass}` : ''} · `,
        el('span', { class: 'muted', text: im?.path ?? '' }),
      );
    };
    const pairs = e.confusedPairs.map((p) =>
      el(
        'li',
        {},
        el(
          'button',
          {
            class: 'link-button',
            attrs: { type: 'button', 'data-image': p.example.query, title: 'Open an example query' },
          },
          `${String(p.a)} ↔ ${String(p.b)}`,
        ),
        `: ${p.count} after, ${p.countBefore} before`,
      ),
    );
    setChildren(
      this.errors,
      el('h3', { text: `Recall@1 per super class (${integer(e.numQueries)} queries)` }),
      el(
        'div',
        { class: 'table-host' },
        table(
          'errors-superclass',
          ['Super class', 'Queries', 'Before', 'After', 'Δ points'],
          superClassTable(e).map((s) => [
            s.superClass,
            integer(s.queries),
            percent(s.before),
            percent(s.after),
            points(s.after - s.before),
          ]),
          { label: 'Recall at 1 per super class, before and after fine-tuning' },
        ),
      ),
      el(
        'div',
        { class: 'error-lists' },
        el(
          'div',
          {},
          el('h3', { text: 'Improved most (first correct rank before → after)' }),
          e.improved.length
            ? el('ol', { attrs: { id: 'errors-improved' } }, ...e.improved.map((q) => change(q, 'improved')))
            : el('p', { class: 'muted', text: 'None.' }),
        ),
        el(
          'div',
          {},
          el('h3', { text: 'Regressed most' }),
          e.regressed.length
            ? el('ol', { attrs: { id: 'errors-regressed' } }, ...e.regressed.map((q) => change(q, 'regressed')))
            : el('p', { class: 'muted', text: 'None.' }),
        ),
      ),
      el('h3', { text: 'Product pairs most often confused (nearest image is the other product)' }),
      pairs.length ? el('ol', { attrs: { id: 'errors-pairs' } }, ...pairs) : el('p', { class: 'muted', text: 'None.' }),
    );
  }

  /** Called on theme changes: the points take the new palette. */
  retheme(): void {
    for (const s of this.sides) if (s.data) this.drawPoints(s);
    if (this.groups) this.renderInfo(this.shownAnalysis!);
  }
}

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '? s';
  return s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`;
}
