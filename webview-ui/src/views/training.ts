/** The Training tab: loss and learning-rate curves, Recall@K per epoch, before/after, checkpoints, config. */
import { byId, el, setChildren } from '../dom';
import { baseName, lossValue, lrValue, metricLabel, percent, points } from '../format';
import type { PanelModel } from '../state';
import {
  batchComposition,
  beforeAfter,
  configRows,
  evaluationTable,
  lossSeries,
  lrSeries,
  recallSeries,
  reportTable,
  seedSpreadView,
  summary,
  type BeforeAfter,
  type SeedSpreadView,
} from '../viewModel';
import { LineChart } from './lineChart';
import { table } from './table';

export class TrainingView {
  private readonly lossChart = new LineChart(byId('chart-loss'), {
    title: 'Training loss per step',
    xLabel: 'step',
    series: [
      { label: 'loss', color: 0, width: 1, alpha: 0.35 },
      { label: 'loss (smoothed)', color: 0, width: 2 },
    ],
    yFormat: lossValue,
  });
  private readonly lrChart = new LineChart(byId('chart-lr'), {
    title: 'Learning rate per step',
    xLabel: 'step',
    series: [{ label: 'learning rate', color: 3, width: 1.5 }],
    yFormat: lrValue,
  });
  private readonly recallChart = new LineChart(byId('chart-recall'), {
    title: 'Recall@K per epoch, epoch 0 is before training',
    xLabel: 'epoch',
    series: [
      { label: 'R@1', color: 0, width: 2 },
      { label: 'R@10', color: 1, width: 2 },
      { label: 'R@100', color: 2, width: 2 },
    ],
    yFormat: (v) => `${v.toFixed(1)}%`,
    integerX: true,
  });
  private lastRunVersion = -1;
  private lastReports: unknown;

  update(model: PanelModel): void {
    if (model.runVersion === this.lastRunVersion && model.reports === this.lastReports) return;
    const runChanged = model.runVersion !== this.lastRunVersion;
    this.lastRunVersion = model.runVersion;
    this.lastReports = model.reports;
    const run = model.run;
    if (runChanged) {
      const loss = lossSeries(run);
      this.lossChart.setData(loss.steps, [loss.values, loss.smoothed]);
      const lr = lrSeries(run);
      this.lrChart.setData(lr.steps, [lr.values]);
      const recall = recallSeries(run);
      // The chart has three fixed series (R@1, R@10, R@100); a missing one stays empty.
      const byMetric = new Map(recall.series.map((s) => [s.metric, s.values]));
      this.recallChart.setData(
        recall.epochs,
        ['recall@1', 'recall@10', 'recall@100'].map((m) => byMetric.get(m) ?? recall.epochs.map(() => null)),
        run?.epochs,
      );
      byId('curves').hidden = loss.steps.length === 0;
      // How batches were made, next to the curves, so runs compared before/after say it.
      const batches = batchComposition(run?.config);
      const b = byId('batch-composition');
      b.hidden = batches === null;
      b.textContent = batches?.text ?? '';
      byId('chart-recall').hidden = recall.epochs.length === 0;
      this.renderCheckpoints(model);
      this.renderConfig(model);
    }
    this.renderEvaluations(model);
    this.renderBeforeAfter(beforeAfter(model));
    this.renderSeedSpread(seedSpreadView(model));
    byId('training-empty').hidden = summary(model) !== null || reportTable(model) !== null;
  }

  retheme(): void {
    for (const c of [this.lossChart, this.lrChart, this.recallChart]) c.retheme();
  }

  private renderEvaluations(model: PanelModel): void {
    const fromRun = evaluationTable(model.run);
    const t = fromRun ?? reportTable(model);
    const host = byId('recall-table');
    byId('recall').hidden = t === null;
    if (!t) {
      setChildren(host);
      return;
    }
    byId('recall-title').textContent = fromRun ? 'Recall per epoch' : 'Benchmark';
    const caption = fromRun
      ? `Split "${t.split}"${t.split === 'val' ? ' (for SOP, val.jsonl is the test split: these are test numbers)' : ''}; epoch 0 is the model before training.`
      : 'Metrics of the benchmark report(s) in this folder.';
    setChildren(
      host,
      el('p', { class: 'muted caption', text: caption }),
      table(
        'evaluations',
        [fromRun ? 'Epoch' : 'Model', ...t.metrics.map(metricLabel), 'Queries'],
        t.rows.map((r) => [r.label, ...r.values.map((v) => percent(v)), String(r.numValidQueries)]),
        {
          label: fromRun ? 'Evaluation metrics per epoch' : 'Benchmark metrics',
          // The row label and the query count get fixed room; metrics share the rest.
          columns: ['20%', ...t.metrics.map(() => `${(68 / t.metrics.length).toFixed(2)}%`), '12%'],
        },
      ),
    );
  }

  private renderBeforeAfter(ba: BeforeAfter | null): void {
    const section = byId('before-after');
    section.hidden = ba === null;
    if (!ba) return;
    setChildren(
      byId('before-after-table'),
      table(
        'comparison',
        ['Metric', 'Before', 'After', 'Δ points'],
        ba.rows.map((r) => [
          r.label,
          { text: percent(r.before), ...(ba.beforePath ? { title: ba.beforePath } : {}) },
          { text: percent(r.after), ...(ba.afterPath ? { title: ba.afterPath } : {}) },
          {
            text: points(r.delta),
            class: r.delta === undefined ? '' : r.delta > 0 ? 'delta-up' : r.delta < 0 ? 'delta-down' : '',
          },
        ]),
        { label: 'Metrics before and after training', columns: ['25%', '25%', '25%', '25%'] },
      ),
      el('p', {
        class: 'muted caption',
        text: `Before: ${ba.beforeLabel}. After: ${ba.afterLabel}. Δ in percentage points.`,
      }),
    );
  }

  private renderSeedSpread(v: SeedSpreadView | null): void {
    byId('seed-spread').hidden = v === null;
    if (!v) return;
    const sd = (x: number | null) => (x === null ? '–' : `± ${points(x).replace(/^\+/, '')}`);
    setChildren(
      byId('seed-spread-table'),
      table(
        'seed-spread-values',
        ['Metric', `Seed ${v.thisSeed}`, 'Mean', 'sd (points)', 'Min .. max'],
        v.rows.map((r) => [
          r.label,
          percent(r.thisRun),
          percent(r.mean),
          sd(r.sd),
          `${percent(r.min)} .. ${percent(r.max)}`,
        ]),
        { label: 'Metrics over the seeds of the sweep', columns: ['20%', '18%', '18%', '18%', '26%'] },
      ),
      el('p', { class: 'muted caption', text: v.caption }),
    );
  }

  private renderCheckpoints(model: PanelModel): void {
    const cps = model.run?.checkpoints ?? [];
    byId('checkpoints').hidden = cps.length === 0;
    if (cps.length === 0) return;
    setChildren(
      byId('checkpoints-table'),
      table(
        'checkpoint-list',
        ['Checkpoint', 'Kind', 'Epoch', 'Step'],
        cps.map((c) => [{ text: baseName(c.path), title: c.path }, c.kind, String(c.epoch), String(c.step)]),
        {
          label: 'Checkpoints',
          columns: ['50%', '20%', '15%', '15%'],
        },
      ),
    );
  }

  private renderConfig(model: PanelModel): void {
    const rows = configRows(model.run?.config);
    byId('config').hidden = rows.length === 0;
    if (rows.length === 0) return;
    setChildren(
      byId('config-table'),
      table(
        'config-values',
        ['Key', 'Value'],
        rows.map((r) => [
          r.key,
          { text: r.value.length > 160 ? `${r.value.slice(0, 157)}...` : r.value, title: r.value },
        ]),
        {
          label: 'Configuration used by the run',
          columns: ['35%', '65%'],
        },
      ),
    );
  }
}
