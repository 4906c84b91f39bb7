/** A vscode-table from header labels and rows of cells (text or nodes). */
import '@vscode-elements/elements/dist/vscode-table/index.js';
import '@vscode-elements/elements/dist/vscode-table-header/index.js';
import '@vscode-elements/elements/dist/vscode-table-header-cell/index.js';
import '@vscode-elements/elements/dist/vscode-table-body/index.js';
import '@vscode-elements/elements/dist/vscode-table-row/index.js';
import '@vscode-elements/elements/dist/vscode-table-cell/index.js';
import { el } from '../dom';

export interface Cell {
  text: string;
  /** Tooltip, e.g. the full value of a truncated cell. */
  title?: string;
  class?: string;
}

export function table(
  id: string,
  headers: string[],
  rows: (string | Cell)[][],
  options: { columns?: string[]; label: string },
): HTMLElement {
  const t = el('vscode-table', { attrs: { id, zebra: true, 'bordered-columns': true, 'aria-label': options.label } });
  if (options.columns) t.columns = options.columns;
  const head = el(
    'vscode-table-header',
    { attrs: { slot: 'header' } },
    ...headers.map((h) => el('vscode-table-header-cell', { text: h })),
  );
  const body = el(
    'vscode-table-body',
    { attrs: { slot: 'body' } },
    ...rows.map((r) =>
      el(
        'vscode-table-row',
        {},
        ...r.map((c) => {
          const cell = typeof c === 'string' ? { text: c } : c;
          return el('vscode-table-cell', {
            text: cell.text,
            ...(cell.class ? { class: cell.class } : {}),
            attrs: { title: cell.title },
          });
        }),
      ),
    ),
  );
  t.append(head, body);
  return t;
}
