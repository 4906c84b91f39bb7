/**
 * The compare page of "vembed: Compare Runs": a webview with the results
 * panel's CSP (nothing but its own script and styles; no network), fed the
 * comparison that src/shared/runs/compare.ts computes from the run folders.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { compareRuns, type CompareHostMessage, type ComparePageMessage } from '../../shared/runs/compare';
import { readRunSummary, type RunSummary } from '../../shared/runs/summary';
import { loadWebviewPage, lockedDownOptions, webviewBundleDir } from '../panel/webviewPage';

export const COMPARE_VIEW_TYPE = 'vembed.compare';

/** Opens a compare page of the runs in `dirs` (2-6 run folders); throws when one is not a run folder. */
export function showComparison(extensionUri: vscode.Uri, dirs: string[]): vscode.WebviewPanel {
  const summaries = dirs.map((d) => {
    const s = readRunSummary(d);
    if (!s) throw new Error(`${d} is not a run folder (no events.jsonl)`);
    return s;
  });
  const comparison = compareRuns(summaries);
  const panel = vscode.window.createWebviewPanel(
    COMPARE_VIEW_TYPE,
    `vembed: compare ${comparison.runs.map((r) => r.name).join(', ')}`,
    vscode.ViewColumn.Active,
    lockedDownOptions([webviewBundleDir(extensionUri)]),
  );
  const webview = panel.webview;
  loadWebviewPage(webview, extensionUri, 'compare', panel.title);
  // The page asks on every load (also after being hidden and shown): answer with the runs as they are now.
  webview.onDidReceiveMessage((m: ComparePageMessage) => {
    if (m?.type !== 'ready') return;
    const fresh = summaries.map((s: RunSummary) => readRunSummary(path.resolve(s.dir)) ?? s);
    const message: CompareHostMessage = { type: 'comparison', comparison: compareRuns(fresh) };
    void webview.postMessage(message);
  });
  return panel;
}
