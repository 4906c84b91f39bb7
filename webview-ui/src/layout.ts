/** The page's static skeleton; the views fill it in by id. */
import '@vscode-elements/elements/dist/vscode-tabs/index.js';
import '@vscode-elements/elements/dist/vscode-tab-header/index.js';
import '@vscode-elements/elements/dist/vscode-tab-panel/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { PanelTab } from '../../src/shared/panelProtocol';
import { el } from './dom';

export const TABS: PanelTab[] = ['training', 'queries', 'analysis', 'data', 'search'];
const TAB_TITLES: Record<PanelTab, string> = {
  training: 'Training',
  queries: 'Queries',
  analysis: 'Map and errors',
  data: 'Data health',
  search: 'Search by image',
};

function section(id: string, title: string, ...children: HTMLElement[]): HTMLElement {
  return el(
    'section',
    { class: 'block', attrs: { id, 'aria-labelledby': `${id}-title` } },
    el('h2', { text: title, attrs: { id: `${id}-title` } }),
    ...children,
  );
}

function training(): HTMLElement {
  return el(
    'div',
    { class: 'tab-content' },
    el('p', {
      class: 'muted',
      text: 'Nothing to show yet: no training events or reports in this folder.',
      attrs: { id: 'training-empty' },
    }),
    section(
      'curves',
      'Loss and learning rate',
      el('p', { class: 'muted caption', attrs: { id: 'batch-composition', hidden: true } }),
      el(
        'div',
        { class: 'chart-row' },
        el('div', { attrs: { id: 'chart-loss' } }),
        el('div', { attrs: { id: 'chart-lr' } }),
      ),
    ),
    section(
      'recall',
      'Recall per epoch',
      el(
        'div',
        { class: 'chart-row' },
        el('div', { attrs: { id: 'chart-recall' } }),
        el('div', { attrs: { id: 'recall-table' }, class: 'table-host' }),
      ),
    ),
    section(
      'before-after',
      'Before and after training',
      el('div', { attrs: { id: 'before-after-table' }, class: 'table-host' }),
    ),
    section('seed-spread', 'Spread over seeds', el('div', { attrs: { id: 'seed-spread-table' }, class: 'table-host' })),
    section('checkpoints', 'Checkpoints', el('div', { attrs: { id: 'checkpoints-table' }, class: 'table-host' })),
    section('config', 'Config used', el('div', { attrs: { id: 'config-table' }, class: 'table-host' })),
  );
}

function queries(): HTMLElement {
  return el(
    'div',
    { class: 'tab-content' },
    el('p', { class: 'muted', attrs: { id: 'gallery-empty' } }),
    el(
      'div',
      { attrs: { id: 'gallery-body' } },
      el(
        'div',
        { class: 'toolbar', attrs: { role: 'toolbar', 'aria-label': 'Query filters and pages' } },
        el('label', { class: 'toolbar-label', text: 'Super class', attrs: { for: 'superclass-filter' } }),
        el('vscode-single-select', { attrs: { id: 'superclass-filter', 'aria-label': 'Super class' } }),
        el('vscode-checkbox', { attrs: { id: 'failed-filter', label: 'Failed at @1 only' } }),
        el('span', { class: 'muted', attrs: { id: 'gallery-count', 'aria-live': 'polite' } }),
        el(
          'span',
          { class: 'pager' },
          el('vscode-button', { text: 'Previous', attrs: { id: 'prev-page', secondary: true } }),
          el('span', { attrs: { id: 'page-label' } }),
          el('vscode-button', { text: 'Next', attrs: { id: 'next-page', secondary: true } }),
        ),
      ),
      el('div', { class: 'grid', attrs: { id: 'gallery-grid', role: 'group' } }),
      el('div', { attrs: { id: 'query-detail' }, class: 'detail' }),
    ),
  );
}

function search(): HTMLElement {
  return el(
    'div',
    { class: 'tab-content' },
    el(
      'div',
      {
        class: 'drop-zone',
        attrs: {
          id: 'drop-zone',
          tabindex: 0,
          role: 'button',
          'aria-label': 'Drop an image here, or press Enter to choose one',
        },
      },
      el('div', { text: 'Drop an image here to find the most similar images of this run.' }),
      el('div', { class: 'muted', text: 'From the explorer, hold Shift while dropping. Or:' }),
      el('vscode-button', { text: 'Choose image…', attrs: { id: 'pick-image' } }),
      el('input', {
        class: 'visually-hidden',
        attrs: { id: 'search-file', type: 'file', accept: 'image/*', tabindex: -1, 'aria-hidden': 'true' },
      }),
    ),
    el('div', { attrs: { id: 'search-results' } }),
  );
}

export function buildLayout(root: HTMLElement): HTMLElementTagNameMap['vscode-tabs'] {
  const tabs = el('vscode-tabs', { attrs: { id: 'tabs', panel: true } });
  const panels: Record<PanelTab, HTMLElement> = {
    training: training(),
    queries: queries(),
    // The Analysis tab builds its own content (views/analysis.ts).
    analysis: el('div', { class: 'tab-content', attrs: { id: 'analysis-root' } }),
    // So does the Data health tab (views/dataHealth.ts).
    data: el('div', { class: 'tab-content', attrs: { id: 'health-root' } }),
    search: search(),
  };
  for (const t of TABS) {
    // vscode-tabs assigns its own ids to headers and panels: name them with data-tab.
    tabs.append(
      el('vscode-tab-header', { text: TAB_TITLES[t], attrs: { slot: 'header', 'data-tab': t } }),
      el('vscode-tab-panel', { attrs: { 'data-tab': t } }, panels[t]),
    );
  }
  root.replaceChildren(
    el(
      'header',
      { class: 'run-header' },
      el(
        'div',
        { class: 'title-row' },
        el('h1', { attrs: { id: 'run-title' }, text: 'Loading…' }),
        el('vscode-badge', { attrs: { id: 'run-status', hidden: true } }),
      ),
      el('dl', { class: 'facts', attrs: { id: 'run-facts' } }),
      el('vscode-progress-bar', { attrs: { id: 'run-progress', hidden: true } }),
      el('div', { attrs: { id: 'run-alerts' } }),
    ),
    tabs,
  );
  return tabs;
}
