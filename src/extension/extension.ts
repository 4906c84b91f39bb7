/**
 * The VS Code side: a thin client. Intelligence lives in src/shared (config
 * language) and in the engine process (training, evaluation, search).
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import { COMMAND_IDS, PENDING_COMMANDS, type CommandId } from './commands';
import { ConfigLanguage, isConfigDocument } from './configLanguage';

let output: vscode.LogOutputChannel | undefined;

/** The config a command acts on: the URI it was given (CodeLens, explorer), else the active editor. */
async function targetConfig(arg: unknown): Promise<vscode.TextDocument | undefined> {
  if (arg instanceof vscode.Uri) return vscode.workspace.openTextDocument(arg);
  const doc = vscode.window.activeTextEditor?.document;
  return doc && doc.languageId === 'yaml' ? doc : undefined;
}

export function activate(context: vscode.ExtensionContext): void {
  output = vscode.window.createOutputChannel('vembed', { log: true });
  const language = new ConfigLanguage();
  context.subscriptions.push(output, language);

  const register = (id: CommandId, handler: (...args: unknown[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, handler));

  register(COMMAND_IDS.validateConfig, async (arg: unknown) => {
    const doc = await targetConfig(arg);
    if (!doc) {
      void vscode.window.showWarningMessage('vembed: open a training config (YAML) to validate it.');
      return;
    }
    const name = path.basename(doc.fileName);
    const found = language.refresh(doc);
    if (!found) {
      void vscode.window.showWarningMessage(`vembed: ${name} does not look like a training config (see the setting vembed.configGlobs).`);
      return;
    }
    const errors = found.filter((d) => d.severity === 'error').length;
    const warnings = found.filter((d) => d.severity === 'warning').length;
    output?.info(`validated ${doc.fileName}: ${errors} error(s), ${warnings} warning(s)`);
    if (errors === 0) void vscode.window.showInformationMessage(`vembed: ${name} is valid${warnings ? ` (${warnings} warning(s))` : ''}.`);
    else void vscode.window.showErrorMessage(`vembed: ${name} has ${errors} error(s); see the Problems panel.`);
  });
  register(COMMAND_IDS.showLog, () => output?.show(true));

  for (const [id, issue] of Object.entries(PENDING_COMMANDS) as [CommandId, string][]) {
    register(id, () => {
      output?.info(`${id} is not implemented yet (${issue}).`);
      void vscode.window.showInformationMessage(`vembed: this command is not implemented yet in this version (${issue}). The \`vembed\` CLI may already offer it.`);
    });
  }
  output.info(`vembed activated; ${vscode.workspace.textDocuments.filter(isConfigDocument).length} config(s) open`);
}

export function deactivate(): void {
  output = undefined;
}
