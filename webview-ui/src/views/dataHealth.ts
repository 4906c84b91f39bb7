/**
 * The Data health tab: the run's data-health.json (written by the engine's
 * check before training) as counts, then the listed images, leakage first,
 * with thumbnails; clicking an image opens it in an editor tab.
 */
import {
  dataHealthCounts,
  imageKey,
  type DataHealthReport,
  type Split,
} from '../../../src/shared/artifacts/dataHealthFile';
import type { DataHealthData, PanelMessage } from '../../../src/shared/panelProtocol';
import { byId, el, setChildren, thumbnail } from '../dom';
import { integer } from '../format';
import type { PanelModel } from '../state';

/** Entries shown per list; the host sends thumbnails for as many (extension/panel/healthSource.ts). */
const LIST_LIMIT = 20;

export class DataHealthTab {
  private readonly root = byId('health-root');
  private last: unknown;
  private lastReason: unknown;
  private index = new Map<string, number>();
  private data: DataHealthData | null = null;

  constructor(private readonly post: (m: PanelMessage) => void) {
    this.root.addEventListener('click', (e) => {
      const b = (e.target as HTMLElement).closest<HTMLElement>('button.health-image');
      if (b?.dataset.image !== undefined) this.post({ type: 'openHealthImage', image: Number(b.dataset.image) });
    });
  }

  update(model: PanelModel): void {
    if (model.dataHealth === this.last && model.dataHealthReason === this.lastReason) return;
    this.last = model.dataHealth;
    this.lastReason = model.dataHealthReason;
    const h = model.dataHealth;
    this.data = h;
    // The tab's title says "leakage" too, so it is seen from any tab.
    const header = document.querySelector<HTMLElement>('vscode-tab-header[data-tab=data]');
    if (header) {
      header.textContent = h?.leakage ? 'Data health: leakage' : 'Data health';
      header.classList.toggle('leakage-badge', h?.leakage === true);
    }
    if (!h) {
      setChildren(
        this.root,
        el('p', {
          class: 'muted',
          attrs: { id: 'health-empty' },
          text: model.dataHealthReason ?? 'No data-health report for this run.',
        }),
      );
      return;
    }
    this.index = new Map(h.images.map((im, i) => [imageKey(im.split, im.image), i]));
    const r = h.report;
    setChildren(
      this.root,
      el(
        'div',
        { class: h.leakage ? 'alert error' : 'alert', attrs: { id: 'health-verdict', 'data-leakage': h.leakage } },
        h.leakage
          ? 'Train/test leakage: test images (or their copies, or their products) are in the training data, so test ' +
              'numbers may be too good. Nothing was changed; fix the lists.'
          : 'No train/test leakage found' + (r.nearDuplicates ? '.' : ' by path or file content.'),
      ),
      el('p', { class: 'muted caption', text: `Report: ${h.file}`, attrs: { title: h.file } }),
      this.summary(r),
      ...this.lists(r),
    );
  }

  private summary(r: DataHealthReport): HTMLElement {
    const c = dataHealthCounts(r);
    const rows: [string, string, string][] = [
      ['train-images', 'Train images / products', `${integer(r.images.train)} / ${integer(r.products.train)}`],
      ['test-images', 'Test images / products', `${integer(r.images.test)} / ${integer(r.products.test)}`],
      [
        'single-image-products',
        'Products with a single image',
        `${integer(c.singleImageProducts.total)} (train ${integer(c.singleImageProducts.train)}, test ${integer(c.singleImageProducts.test)})`,
      ],
      ['images-under-two-products', 'Images under two products', integer(c.imagesUnderTwoProducts)],
      ['images-in-both-splits', 'Images in both splits', integer(c.imagesInBothSplits)],
      ['products-in-both-splits', 'Products in both splits', integer(c.productsInBothSplits)],
      [
        'near-duplicates',
        'Near-duplicate train/test pairs',
        c.nearDuplicatePairs === undefined
          ? 'not checked (near_duplicate_threshold, or vembed check-data --model_path)'
          : `${integer(c.nearDuplicatePairs)} (cosine ≥ ${r.nearDuplicates!.threshold}, ${r.nearDuplicates!.model})`,
      ],
    ];
    if (r.unreadable.length > 0)
      rows.push(['unreadable', 'Files that could not be read', integer(r.unreadable.length)]);
    return el(
      'dl',
      { class: 'facts health-counts', attrs: { id: 'health-counts' } },
      ...rows.map(([id, k, v]) =>
        el('div', { class: 'fact', attrs: { 'data-count': id } }, el('dt', { text: k }), el('dd', { text: v })),
      ),
    );
  }

  private lists(r: DataHealthReport): HTMLElement[] {
    const out: HTMLElement[] = [];
    const groups = [...r.samePath, ...r.sameContent];
    const inBoth = groups.filter((g) => g.crossSplit);
    const twoProducts = groups.filter((g) => g.crossProduct && !g.crossSplit);
    const list = <T>(id: string, title: string, items: T[], row: (t: T) => HTMLElement): void => {
      if (items.length === 0) return;
      const more = items.length - LIST_LIMIT;
      out.push(
        el(
          'section',
          { class: 'block', attrs: { id: `health-${id}`, 'aria-labelledby': `health-${id}-title` } },
          el('h2', { text: `${title} (${integer(items.length)})`, attrs: { id: `health-${id}-title` } }),
          el('div', { class: 'health-list' }, ...items.slice(0, LIST_LIMIT).map(row)),
          more > 0 ? el('p', { class: 'muted', text: `… and ${integer(more)} more in the report file.` }) : null,
        ),
      );
    };
    list('both-splits', 'Images in both train and test (leakage)', inBoth, (g) =>
      el('div', { class: 'health-row' }, ...g.listings.map((l) => this.image(l.split, l.image, l.product))),
    );
    list('near-duplicates', 'Near-duplicate train/test pairs (leakage)', r.nearDuplicates?.pairs ?? [], (p) =>
      el(
        'div',
        { class: 'health-row' },
        this.image('test', p.test, p.testProduct),
        this.image('train', p.train, p.trainProduct),
        el('span', { class: 'health-cosine', text: `cosine ${p.cosine.toFixed(4)}` }),
      ),
    );
    list('products-both', 'Products in both splits (leakage)', r.productsInBothSplits, (p) =>
      el('span', { class: 'health-product', text: `product ${p}` }),
    );
    list('two-products', 'One image under two products', twoProducts, (g) =>
      el('div', { class: 'health-row' }, ...g.listings.map((l) => this.image(l.split, l.image, l.product))),
    );
    list('single', 'Products with a single image (no positive to learn from or to find)', r.singleImageProducts, (p) =>
      this.image(p.split, p.image, p.product),
    );
    return out;
  }

  /** A listed image: a button opening it when the host found the file, else its name. */
  private image(split: Split, image: string, product: string): HTMLElement {
    const i = this.index.get(imageKey(split, image));
    const ref = i !== undefined ? this.data?.images[i] : undefined;
    const caption = el(
      'span',
      { class: 'health-caption' },
      el('span', { class: 'health-name', text: image }),
      el('span', { class: 'muted', text: `${split}, product ${product}` }),
    );
    const label = `${image} (${split}, product ${product})`;
    if (ref?.exists && i !== undefined)
      return el(
        'button',
        {
          class: 'health-image',
          attrs: { type: 'button', 'data-image': i, title: `Open ${image}`, 'aria-label': `Open ${label}` },
        },
        thumbnail(ref.thumbnail ?? null, image),
        caption,
      );
    return el(
      'span',
      { class: 'health-image missing', attrs: { title: `${image}: file not found` } },
      thumbnail(null, image),
      caption,
    );
  }
}
