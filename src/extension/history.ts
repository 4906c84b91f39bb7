/** Run history: the runs found under the workspace, newest first, with their state and best Recall@1. */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { EVENTS_FILE, readRun, type RunOnDisk } from './engineClient/runFiles';
import { summarizeRun } from '../shared/runState';

export async function findRuns(): Promise<RunOnDisk[]> {
  const files = await vscode.workspace.findFiles(`**/${EVENTS_FILE}`, '**/node_modules/**', 500);
  return files
    .map((f) => readRun(path.dirname(f.fsPath)))
    .filter((r): r is RunOnDisk => r !== undefined)
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
}

/** A quick pick over the runs; resolves to the chosen run folder. */
export async function pickRun(placeHolder: string): Promise<string | undefined> {
  const runs = await findRuns();
  if (runs.length === 0) {
    void vscode.window.showInformationMessage(
      `vembed: no runs found in this workspace (a run folder holds ${EVENTS_FILE}). Train first.`,
    );
    return undefined;
  }
  const items = runs.map((r) => ({
    label: vscode.workspace.asRelativePath(r.dir),
    description: summarizeRun(r.state),
    detail: [
      r.state.startedAt && new Date(r.state.startedAt).toLocaleString(),
      r.state.backend && `backend ${r.state.backend}`,
    ]
      .filter(Boolean)
      .join(' · '),
    dir: r.dir,
  }));
  const chosen = await vscode.window.showQuickPick(items, { placeHolder, matchOnDescription: true });
  return chosen?.dir;
}
