/**
 * The VS Code side: a thin client. Intelligence lives in src/shared (config
 * language) and in the engine process (training, evaluation, search), which
 * runs as a separate Node process, never in the extension host.
 */
import * as vscode from 'vscode';
import { ConfigLanguage, isConfigDocument } from './configLanguage';
import { RunController } from './runController';
import { registerCommands, type PanelHost } from './commandHandlers';
import { readRun } from './engine/runFiles';
import { summarizeRun } from '../shared/runState';

let runs: RunController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('vembed', { log: true });
  const language = new ConfigLanguage();
  runs = new RunController(context, output);
  context.subscriptions.push(output, language, runs);

  // Until the results panel lands, a run is summarised in a message.
  const panel: PanelHost = {
    showRun(runDir) {
      const run = readRun(runDir);
      if (run) void vscode.window.showInformationMessage(`vembed run ${vscode.workspace.asRelativePath(runDir)}: ${summarizeRun(run.state)}`);
    },
  };
  registerCommands(context, output, language, runs, panel);
  output.info(`vembed activated; ${vscode.workspace.textDocuments.filter(isConfigDocument).length} config(s) open; workspace ${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: nothing will run'}`);
}

/** Engine processes are killed with the extension: nothing is left running. */
export function deactivate(): void {
  runs?.dispose();
  runs = undefined;
}
