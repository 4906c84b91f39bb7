/**
 * The compare page (vembed: Compare Runs): loss and Recall@1 per epoch of 2-6
 * runs overlaid, their final metrics before and after training, and the
 * config keys that differ. The host computes the comparison
 * (src/shared/runs/compare.ts) and posts it; this page only draws it, with the
 * results panel's chart and table code and the theme's colours.
 */
import 'uplot/dist/uPlot.min.css';
import './panel.css';
import './compare.css';
import type { CompareHostMessage, ComparePageMessage, RunComparison } from '../../src/shared/runs/compare';
import { metricLabel } from '../../src/shared/metrics';
import { byId, el, setChildren } from './dom';
import { lossValue, percent } from './format';
import { watchTheme } from './theme';
import { LineChart } from './views/lineChart';
import { table } from './views/table';

interface CompareApi {
  postMessage(message: ComparePageMessage): void;
}
declare function acquireVsCodeApi(): CompareApi;
const vscode = acquireVsCodeApi();

const root = byId('root');
setChildren(
  root,
  el('h1', { text: 'Compare runs' }),
  el('p', { class: 'muted', attrs: { id: 'compare-caption' }, text: 'Reading the runs…' }),
  el('h2', { text: 'Mean training loss per epoch' }),
  el('div', { attrs: { id: 'compare-loss' } }),
  el('h2', { text: 'Recall@1 per epoch (0 is before training)' }),
  el('div', { attrs: { id: 'compare-recall' } }),
  el('h2', { text: 'Final metrics (before training → after the last evaluated epoch)' }),
  el('div', { attrs: { id: 'compare-metrics' } }),
  el('h2', { text: 'Config keys that differ (output_dir aside)' }),
  el('div', { attrs: { id: 'compare-config' } }),
);

let charts: LineChart[] = [];

function render(c: RunComparison): void {
  for (const chart of charts) chart.destroy();
  const names = c.runs.map((r) => r.name);
  // One colour per run, the same in both charts (the theme palette has six: the most runs compared).
  const series = names.map((label, i) => ({ label, color: i, width: 2 }));
  const loss = new LineChart(byId('compare-loss'), {
    title: 'Mean training loss per epoch, one line per run',
    xLabel: 'epoch',
    series,
    integerX: true,
    yFormat: lossValue,
  });
  const recall = new LineChart(byId('compare-recall'), {
    title: 'Recall@1 per epoch, one line per run',
    xLabel: 'epoch',
    series,
    integerX: true,
    yFormat: (v) => percent(v / 100),
  });
  loss.setData(c.loss.epochs, c.loss.series);
  recall.setData(
    c.recall1.epochs,
    c.recall1.series.map((s) => s.map((v) => (v === null ? null : v * 100))),
  );
  charts = [loss, recall];
  byId('compare-caption').textContent = c.runs
    .map((r) => `${r.name}: ${r.status}, ${r.epochsDone} epoch(s)${r.backend ? `, ${r.backend}` : ''}`)
    .join(' · ');
  setChildren(
    byId('compare-metrics'),
    table(
      'compare-metrics-table',
      ['metric', ...names],
      c.metrics.map((m) => [
        metricLabel(m),
        ...c.runs.map((r) => `${percent(r.before?.[m])} → ${percent(r.after?.[m])}`),
      ]),
      { label: 'Final metrics of each run, before and after training' },
    ),
  );
  setChildren(
    byId('compare-config'),
    c.configDifferences.length === 0
      ? el('p', { class: 'muted', text: 'None: the runs were started with the same config.' })
      : table(
          'compare-config-table',
          ['key', ...names],
          c.configDifferences.map((d) => [
            { text: d.key, class: 'config-key' },
            ...d.values.map((v) => ({ text: v ?? '(unset)', title: v ?? "not in this run's config" })),
          ]),
          { label: 'Config keys whose values differ between the runs' },
        ),
  );
}

window.addEventListener('message', (e: MessageEvent<CompareHostMessage>) => {
  if (e.data?.type === 'comparison') render(e.data.comparison);
});
watchTheme(() => {
  for (const chart of charts) chart.retheme();
});
vscode.postMessage({ type: 'ready' });
