/**
 * Train/test leakage found by the engine's data-health check (warning code
 * `leakage`) is worth more than a line in the output channel: it means the
 * evaluation numbers may be too good. A notification says so once per run,
 * with a button to the report file the warning names (its `file`).
 */
import * as vscode from 'vscode';
import type { EngineEvent } from '../shared/protocol';

/** Shows the notification for a leakage warning; returns whether it did (the caller shows one per run). */
export function noticeLeakage(label: string, e: EngineEvent): boolean {
  if (e.type !== 'warning' || e.code !== 'leakage') return false;
  // The engine names the report file in the warning's `file`.
  const report = e.file;
  const open = 'Open Report';
  void vscode.window
    .showWarningMessage(`vembed [${label}]: train/test leakage in the data. ${e.message}`, ...(report ? [open] : []))
    .then((choice) => {
      if (choice === open && report) void vscode.window.showTextDocument(vscode.Uri.file(report));
    });
  return true;
}
