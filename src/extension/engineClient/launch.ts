/** How the extension starts the engine: which Node, which bundle, which environment. */
import * as vscode from 'vscode';
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { EngineLaunch } from './engineProcess';
import { normaliseTrainingSettings, type TrainingSettings } from './trainFlags';

/** Folder under the extension's global storage where "Install GPU Backend" puts packages. */
export function backendsDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'backends');
}

export function engineBundle(context: vscode.ExtensionContext): string {
  return path.join(context.extensionPath, 'dist', 'engine', 'vembed.js');
}

/**
 * The Node that runs the engine: the `vembed.nodePath` setting, else the
 * runtime of the extension host itself. In desktop VS Code that is Electron,
 * which behaves as plain Node with ELECTRON_RUN_AS_NODE=1.
 */
export function nodeRuntime(): { nodePath: string; env: NodeJS.ProcessEnv } {
  const configured = vscode.workspace.getConfiguration('vembed').get<string>('nodePath', '').trim();
  if (configured) return { nodePath: configured, env: {} };
  return { nodePath: process.execPath, env: { ELECTRON_RUN_AS_NODE: '1' } };
}

/** Launch options for `vembed <args>` in `cwd`, with the backend and thread choices from the settings. */
export function engineLaunch(
  context: vscode.ExtensionContext,
  args: string[],
  cwd: string,
  withBackend: boolean,
): EngineLaunch {
  const runtime = nodeRuntime();
  const settings = vscode.workspace.getConfiguration('vembed');
  const backend = settings.get<string>('backend', 'auto');
  const threads = String(settings.get<string | number>('threads', 'auto')).trim();
  const compute = withBackend
    ? [
        ...(backend !== 'auto' ? ['--backend', backend] : []),
        ...(threads !== 'auto' && threads !== '' ? ['--threads', threads] : []),
      ]
    : [];
  const extraPath = backendsDir(context);
  return {
    nodePath: runtime.nodePath,
    enginePath: engineBundle(context),
    args: [...args, ...compute],
    cwd,
    env: {
      ...runtime.env,
      VEMBED_BACKEND_PATH: fs.existsSync(extraPath) ? extraPath : '',
    },
  };
}

/** The training engine settings (`vembed.training.engine`, `vembed.training.numProcesses`, `vembed.pythonPath`). */
export function trainingSettings(): TrainingSettings {
  const settings = vscode.workspace.getConfiguration('vembed');
  return normaliseTrainingSettings({
    engine: settings.get('training.engine'),
    numProcesses: settings.get('training.numProcesses'),
    pythonPath: settings.get('pythonPath'),
  });
}
