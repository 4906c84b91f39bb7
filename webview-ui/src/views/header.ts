/** The run's header: title, status, backend and device, progress, throughput and ETA, alerts. */
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import { byId, el, setChildren } from '../dom';
import { duration, integer, lossValue, lrValue } from '../format';
import { dataHealthCounts } from '../../../src/shared/artifacts/dataHealthFile';
import type { PanelModel } from '../state';
import { summary, type Summary } from '../viewModel';

const STATUS_TEXT: Record<string, string> = {
  starting: 'starting',
  running: 'running',
  stopping: 'stopping',
  completed: 'completed',
  stopped: 'stopped',
  failed: 'failed',
};

export class HeaderView {
  private readonly title = byId('run-title');
  private readonly status = byId('run-status');
  private readonly facts = byId('run-facts');
  private readonly progress = byId('run-progress') as HTMLElementTagNameMap['vscode-progress-bar'];
  private readonly alerts = byId('run-alerts');
  private lastRun: unknown;
  private lastProblems: unknown;
  private lastLive: boolean | undefined;
  private lastHealth: unknown;

  update(model: PanelModel): void {
    if (
      model.run === this.lastRun &&
      model.problems === this.lastProblems &&
      model.live === this.lastLive &&
      model.dataHealth === this.lastHealth
    )
      return;
    this.lastHealth = model.dataHealth;
    this.lastRun = model.run;
    this.lastProblems = model.problems;
    this.lastLive = model.live;
    const s = summary(model);
    this.title.textContent = model.title || (model.run ? 'Run' : 'No run loaded');
    this.title.title = model.runDir ?? '';
    if (!s) {
      this.status.hidden = true;
      const hint = model.run
        ? 'No training events in this folder.'
        : 'Open a run with "vembed: Open Results", or start training.';
      setChildren(this.facts, el('span', { class: 'muted', text: hint }));
      this.progress.hidden = true;
      setChildren(
        this.alerts,
        leakageAlert(model),
        ...model.problems.map((p) => el('div', { class: 'alert warning', text: p })),
      );
      return;
    }
    this.status.hidden = false;
    this.status.textContent = model.live && s.status === 'running' ? 'live' : (STATUS_TEXT[s.status] ?? s.status);
    this.status.dataset.status = s.status;
    document.body.dataset.runStatus = s.status;
    setChildren(
      this.facts,
      ...facts(s).map(([k, v, id]) =>
        el('div', { class: 'fact', attrs: { 'data-fact': id } }, el('dt', { text: k }), el('dd', { text: v })),
      ),
    );
    if (s.progress !== undefined && (s.live || s.status === 'running' || s.status === 'starting')) {
      this.progress.hidden = false;
      this.progress.max = 1;
      this.progress.value = s.progress;
      this.progress.ariaLabel = `step ${s.step} of ${s.totalSteps}`;
    } else {
      this.progress.hidden = true;
    }
    const alerts: HTMLElement[] = [];
    const leak = leakageAlert(model);
    if (leak) alerts.push(leak);
    if (s.error) {
      alerts.push(
        el(
          'div',
          { class: 'alert error', attrs: { role: 'alert' } },
          el('strong', { text: `${s.error.code}: ` }),
          s.error.message,
          s.error.hint ? el('div', { class: 'hint', text: s.error.hint }) : null,
        ),
      );
    }
    for (const w of s.warnings.slice(-3)) alerts.push(el('div', { class: 'alert warning', text: w }));
    if (s.warnings.length > 3)
      alerts.push(el('div', { class: 'muted', text: `${s.warnings.length - 3} earlier warning(s) in the engine log` }));
    for (const p of model.problems) alerts.push(el('div', { class: 'alert warning', text: p }));
    setChildren(this.alerts, ...alerts);
  }
}

/** Leakage invalidates the benchmark: said above everything else, with the counts, when the report finds it. */
function leakageAlert(model: PanelModel): HTMLElement | null {
  const h = model.dataHealth;
  if (!h?.leakage) return null;
  const c = dataHealthCounts(h.report);
  const parts = [
    c.imagesInBothSplits > 0 ? `${c.imagesInBothSplits} image(s) in both splits` : '',
    c.productsInBothSplits > 0 ? `${c.productsInBothSplits} product(s) in both splits` : '',
    c.nearDuplicatePairs ? `${c.nearDuplicatePairs} near-duplicate train/test pair(s)` : '',
  ].filter(Boolean);
  return el(
    'div',
    { class: 'alert error', attrs: { role: 'alert', id: 'leakage-alert' } },
    el('strong', { class: 'leakage-badge', text: 'Train/test leakage: ' }),
    `${parts.join(', ')}. Test numbers of this run may be too good.`,
    el('div', { class: 'hint', text: `See the Data health tab (${h.file}).` }),
  );
}

/** [label, value, id] triples; ids let tests and themes find a fact without parsing text. */
function facts(s: Summary): [string, string, string][] {
  const out: [string, string, string][] = [];
  if (s.command) out.push(['Command', s.command, 'command']);
  out.push(['Backend', s.backend ?? '–', 'backend']);
  out.push(['Device', s.device ?? '–', 'device']);
  out.push([
    'Step',
    s.totalSteps !== undefined ? `${integer(s.step)} / ${integer(s.totalSteps)}` : integer(s.step),
    'step',
  ]);
  if (s.epochs !== undefined || s.epoch > 0)
    out.push(['Epoch', s.epochs !== undefined ? `${s.epoch} / ${s.epochs}` : String(s.epoch), 'epoch']);
  if (s.imagesPerSecond !== undefined) out.push(['Throughput', `${s.imagesPerSecond.toFixed(1)} img/s`, 'throughput']);
  if (s.etaSeconds !== undefined) out.push(['ETA', duration(s.etaSeconds), 'eta']);
  if (s.seconds !== undefined) out.push(['Took', duration(s.seconds), 'took']);
  if (s.loss !== undefined) out.push(['Loss', lossValue(s.loss), 'loss']);
  if (s.lr !== undefined) out.push(['LR', lrValue(s.lr), 'lr']);
  return out;
}
