/**
 * The VS Code side: a thin client. Intelligence lives in src/shared (config
 * language) and in the engine process (training, evaluation, search).
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { COMMAND_IDS, PENDING_COMMANDS, type CommandId } from './commands';
import { validateConfigText, type Diagnostic } from '../shared/config/validate';

let output: vscode.LogOutputChannel | undefined;

function toVscodeDiagnostic(d: Diagnostic): vscode.Diagnostic {
  const r = d.range ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  const severity = d.severity === 'error' ? vscode.DiagnosticSeverity.Error : d.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Information;
  const diag = new vscode.Diagnostic(new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character), d.message.replace(/`/g, "'"), severity);
  diag.source = 'vembed';
  diag.code = d.code;
  return diag;
}

export function activate(context: vscode.ExtensionContext): void {
  output = vscode.window.createOutputChannel('vembed', { log: true });
  context.subscriptions.push(output);
  const diagnostics = vscode.languages.createDiagnosticCollection('vembed');
  context.subscriptions.push(diagnostics);

  const register = (id: CommandId, handler: (...args: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, handler));

  register(COMMAND_IDS.validateConfig, async () => {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showWarningMessage('vembed: open a training config (YAML) to validate it.');
      return;
    }
    const result = validateConfigText(editor.document.getText());
    diagnostics.set(editor.document.uri, result.diagnostics.map(toVscodeDiagnostic));
    const errors = result.diagnostics.filter((d) => d.severity === 'error').length;
    const name = path.basename(editor.document.fileName);
    void vscode.window.showInformationMessage(errors === 0 ? `vembed: ${name} is valid.` : `vembed: ${name} has ${errors} error(s); see the Problems panel.`);
  });
  register(COMMAND_IDS.showLog, () => output?.show(true));

  for (const [id, issue] of Object.entries(PENDING_COMMANDS) as [CommandId, string][]) {
    register(id, () => {
      output?.info(`${id} is not implemented yet (${issue}).`);
      void vscode.window.showInformationMessage(`vembed: this command is not implemented yet in this version (${issue}). The \`vembed\` CLI may already offer it.`);
    });
  }
}

export function deactivate(): void {
  output = undefined;
}
