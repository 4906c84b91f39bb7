/** The status bar item of the current (or last) run; clicking it opens the results panel. */
import * as vscode from 'vscode';
import { bestMetric, type RunState } from '../shared/runState';
import { COMMAND_IDS } from './commandIds';

function eta(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  const s = Math.round(seconds);
  return s < 60
    ? `${s}s`
    : s < 3600
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('vembed.run', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'vembed run';
    this.item.command = COMMAND_IDS.openResults;
  }

  show(label: string, state: RunState): void {
    const step = state.totalSteps ? `${state.step}/${state.totalSteps}` : `${state.step}`;
    const best = bestMetric(state);
    let text: string;
    switch (state.status) {
      case 'starting':
        text = `$(loading~spin) vembed: starting ${label}`;
        break;
      case 'running':
        text = `$(loading~spin) vembed: epoch ${state.epoch}${state.epochs ? `/${state.epochs}` : ''} step ${step}${state.loss !== undefined ? ` loss ${state.loss.toFixed(3)}` : ''}${state.etaSeconds ? ` ETA ${eta(state.etaSeconds)}` : ''}`;
        break;
      case 'stopping':
        text = `$(debug-pause) vembed: stopping (saving a checkpoint)`;
        break;
      case 'completed':
        text = `$(pass) vembed: ${label} finished${best !== undefined ? ` R@1 ${(best * 100).toFixed(1)}%` : ''}`;
        break;
      case 'stopped':
        text = `$(debug-stop) vembed: ${label} stopped at step ${state.step}`;
        break;
      case 'failed':
        text = `$(error) vembed: ${label} failed`;
        break;
    }
    this.item.text = text;
    this.item.tooltip = new vscode.MarkdownString(
      [
        `**vembed ${label}**: ${state.status}`,
        state.backend ? `backend: ${state.backend} (${state.device ?? ''})` : '',
        state.runDir ? `output: \`${state.runDir}\`` : '',
        state.imagesPerSecond ? `${state.imagesPerSecond.toFixed(1)} images/s` : '',
        state.error ? `error: ${state.error.message}` : '',
        '',
        'Click to open the results panel.',
      ]
        .filter((l, i) => l !== '' || i === 5)
        .join('\n\n'),
    );
    this.item.backgroundColor =
      state.status === 'failed' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
