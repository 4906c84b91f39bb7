/**
 * A query and its nearest images, best first: similarity, same product or
 * not, and (for gallery queries) the rank of the first correct match. Used by
 * the Queries tab and by search by image.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { PanelMessage } from '../../../src/shared/panelProtocol';
import { el, setChildren, thumbnail } from '../dom';
import { score } from '../format';
import type { NeighbourView } from '../viewModel';

export interface NeighbourListOptions {
  post: (m: PanelMessage) => void;
  /** Shown as a "Back" button when given (Escape does the same). */
  onClose?: () => void;
  closeLabel?: string;
}

export class NeighbourList {
  private key: string | undefined;
  /** Thumbnail holders by item rank (0 = the query), replaced when a URI arrives. */
  private holders = new Map<
    number,
    { uri: string | null | undefined; node: HTMLElement; alt: string; className: string }
  >();

  constructor(
    private readonly host: HTMLElement,
    private readonly options: NeighbourListOptions,
  ) {}

  show(view: NeighbourView | null): void {
    if (!view) {
      if (this.key !== undefined) setChildren(this.host);
      this.key = undefined;
      this.holders.clear();
      return;
    }
    const key = [
      view.kind,
      view.title,
      view.status,
      view.message ?? '',
      view.items.length,
      view.items[0]?.path ?? '',
      view.items[view.items.length - 1]?.path ?? '',
    ].join('\u0000');
    if (key !== this.key) {
      this.key = key;
      this.render(view);
    } else {
      this.refreshThumbnails(view);
    }
  }

  /** Put keyboard focus on the list (its first control). */
  focus(): void {
    const target =
      this.host.querySelector<HTMLElement>('[data-autofocus]') ?? this.host.querySelector<HTMLElement>('button');
    target?.focus();
  }

  private render(view: NeighbourView): void {
    this.holders.clear();
    const head = el(
      'div',
      { class: 'nv-head' },
      el('h2', { class: 'nv-title', text: view.title, attrs: { id: `nv-title-${view.kind}` } }),
      this.options.onClose
        ? (() => {
            const b = el('vscode-button', {
              text: this.options.closeLabel ?? 'Back',
              attrs: { secondary: true, 'data-autofocus': true, class: 'nv-close' },
            });
            b.addEventListener('click', () => this.options.onClose?.());
            return b;
          })()
        : null,
    );
    const queryThumb = this.holder(0, view.query.thumbnail, view.query.name, 'nv-query-thumb');
    const query = el(
      'div',
      { class: 'nv-query' },
      queryThumb,
      el(
        'div',
        { class: 'nv-query-facts' },
        el('div', {
          class: 'nv-query-name',
          text: view.query.name,
          attrs: { title: view.query.path ?? view.query.name },
        }),
        el('ul', { class: 'facts-list' }, ...view.query.facts.map((f) => el('li', { text: f }))),
        view.firstCorrectRank !== undefined
          ? el('div', {
              class: `nv-rank ${view.firstCorrectRank === 1 ? 'pass' : 'fail'}`,
              attrs: { 'data-first-correct-rank': view.firstCorrectRank === null ? 'none' : view.firstCorrectRank },
              text:
                view.firstCorrectRank === null
                  ? `No correct match in the top ${view.k ?? ''}`
                  : view.firstCorrectRank === 1
                    ? 'Correct at rank 1'
                    : `First correct match at rank ${view.firstCorrectRank}`,
            })
          : null,
      ),
    );
    const status =
      view.status === 'loading'
        ? el('div', {
            class: 'nv-status muted',
            attrs: { role: 'status' },
            text: view.kind === 'search' ? 'Searching…' : 'Loading neighbours…',
          })
        : view.status === 'failed'
          ? el('div', { class: 'alert error', attrs: { role: 'alert' }, text: view.message ?? 'Search failed.' })
          : view.items.length === 0
            ? el('div', { class: 'nv-status muted', text: 'No neighbours.' })
            : null;
    const list = el(
      'ol',
      { class: 'nv-list', attrs: { 'aria-label': `Nearest images, best first` } },
      ...view.items.map((item) => this.item(item)),
    );
    setChildren(
      this.host,
      el(
        'section',
        { class: `nv nv-kind-${view.kind}`, attrs: { 'aria-labelledby': `nv-title-${view.kind}` } },
        head,
        query,
        status,
        list,
      ),
    );
  }

  private item(item: NeighbourView['items'][number]): HTMLElement {
    const verdict =
      item.same === undefined
        ? null
        : el('span', {
            class: `nv-verdict ${item.same ? 'same' : 'other'}`,
            text: item.same ? '✓ same product' : '✗ other product',
          });
    const label =
      item.same === undefined && item.label !== undefined
        ? el('span', { class: 'muted', text: `product ${item.label}` })
        : null;
    const button = el(
      'button',
      {
        class: 'nv-item-button',
        attrs: {
          type: 'button',
          title: `${item.path}\nOpen in an editor`,
          'aria-label': `Rank ${item.rank}: ${item.name}, similarity ${score(item.score)}${item.same === undefined ? '' : item.same ? ', same product' : ', other product'}`,
        },
      },
      this.holder(item.rank, item.thumbnail, item.name, 'thumb'),
      el(
        'span',
        { class: 'nv-meta' },
        el('span', { class: 'nv-rank-number', text: `#${item.rank}` }),
        el('span', { class: 'nv-score', text: score(item.score) }),
      ),
      verdict,
      label,
      el('span', { class: 'nv-name', text: item.name }),
    );
    button.addEventListener('click', () => this.options.post(item.open));
    return el(
      'li',
      {
        class: `nv-item${item.same === true ? ' same' : item.same === false ? ' other' : ''}`,
        attrs: {
          'data-rank': item.rank,
          'data-score': item.score,
          'data-same': item.same === undefined ? undefined : String(item.same),
          'data-path': item.path,
        },
      },
      button,
    );
  }

  private holder(rank: number, uri: string | null | undefined, alt: string, className: string): HTMLElement {
    const node = thumbnail(uri, alt, className);
    this.holders.set(rank, { uri, node, alt, className });
    return node;
  }

  private refreshThumbnails(view: NeighbourView): void {
    const wanted = new Map<number, string | null | undefined>([
      [0, view.query.thumbnail],
      ...view.items.map((i): [number, string | null | undefined] => [i.rank, i.thumbnail]),
    ]);
    for (const [rank, uri] of wanted) {
      const h = this.holders.get(rank);
      if (!h || h.uri === uri) continue;
      const node = thumbnail(uri, h.alt, h.className);
      h.node.replaceWith(node);
      this.holders.set(rank, { ...h, uri, node });
    }
  }
}
