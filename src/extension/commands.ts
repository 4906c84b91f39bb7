/**
 * What each vembed command does in VS Code, one named factory per command:
 * each takes the extension's context and returns the handler. The engine does
 * the work; a handler picks inputs and shows results. COMMAND_TABLE, at the
 * end, binds them to the ids contributed in package.json.
 */
import * as vscode from 'vscode';
import * as path from 'node:path';
import * as fs from 'node:fs';
import { loadConfigText } from '../shared/config/validate';
import { resolveConfigPath } from '../shared/config/workspaceChecks';
import { DEFAULT_CONFIG_GLOBS } from '../shared/language/detect';
import { COMMAND_IDS } from './commandIds';
import { ConfigLanguage, isConfigDocument } from './configLanguage';
import { RunController, workingDirectoryFor } from './runController';
import { RUN_EXISTS_ERROR } from '../shared/protocol';
import { pickRun } from './history';
import { readRun } from './engineClient/runFiles';
import { ImageSearchError, searchRunIndex, type ImageSearchHit } from './imageSearch';
import { SEARCHABLE_IMAGE_EXTENSIONS } from '../shared/imageFiles';
import * as backendSetup from './backendSetup';
import { pickTrainChoice } from './trainChoice';
import type { TrainChoice } from './engineClient/trainFlags';

/** What the commands work with, built once at activation. */
export interface Ctx {
  context: vscode.ExtensionContext;
  output: vscode.LogOutputChannel;
  language: ConfigLanguage;
  runs: RunController;
  panel: PanelHost;
}

export type Handler = (...args: unknown[]) => unknown;

/** The results panel, as the commands see it (implemented in ./panel). */
export interface PanelHost {
  showRun(runDir: string): void;
  showSearchResults?(imagePath: string, results: { path: string; score: number }[]): void;
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

/** The config a command acts on: its argument (CodeLens, explorer), the active editor, or a pick. */
async function chooseConfig(arg: unknown): Promise<vscode.TextDocument | undefined> {
  if (arg instanceof vscode.Uri) return vscode.workspace.openTextDocument(arg);
  const active = vscode.window.activeTextEditor?.document;
  if (active && isConfigDocument(active)) return active;
  const globs = vscode.workspace.getConfiguration('vembed').get<string[]>('configGlobs', [...DEFAULT_CONFIG_GLOBS]);
  const found = (await Promise.all(globs.map((g) => vscode.workspace.findFiles(g, '**/node_modules/**', 200)))).flat();
  if (found.length === 0) {
    void vscode.window.showWarningMessage(
      'vembed: no training config found. Open one (e.g. examples/dinov2_i2i.yaml) or create a *_i2i.yaml file.',
    );
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    found.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })),
    { placeHolder: 'Training config to use' },
  );
  return pick ? vscode.workspace.openTextDocument(pick.uri) : undefined;
}

/** Validates a config (argument, active editor or a pick) and says how many problems it has. */
export function validateConfig({ output, language }: Ctx): Handler {
  return async (arg: unknown) => {
    const doc = await chooseConfig(arg);
    if (!doc) return;
    const name = path.basename(doc.fileName);
    const found = language.refresh(doc);
    if (!found) {
      void vscode.window.showWarningMessage(
        `vembed: ${name} does not look like a training config (see the setting vembed.configGlobs).`,
      );
      return;
    }
    const errors = found.filter((d) => d.severity === 'error').length;
    const warnings = found.filter((d) => d.severity === 'warning').length;
    output.info(`validated ${doc.fileName}: ${errors} error(s), ${warnings} warning(s)`);
    if (errors === 0)
      void vscode.window.showInformationMessage(
        `vembed: ${name} is valid${warnings ? ` (${warnings} warning(s))` : ''}.`,
      );
    else void vscode.window.showErrorMessage(`vembed: ${name} has ${errors} error(s); see the Problems panel.`);
  };
}

/**
 * Trains with a config (argument, active editor or a pick); an output_dir holding an earlier run asks: resume,
 * overwrite or cancel. `choice` is a one-off engine choice ("Train with..."); the settings give the rest.
 */
async function trainConfig(
  { language, runs, panel }: Ctx,
  arg: unknown,
  choose?: () => Promise<TrainChoice | undefined>,
) {
  if (!runs.ensureTrusted('train')) return;
  const doc = await chooseConfig(arg);
  if (!doc) return;
  if (doc.isDirty) await doc.save();
  const problems = language.refresh(doc) ?? [];
  const errors = problems.filter((d) => d.severity === 'error').length;
  if (errors > 0) {
    void vscode.window.showErrorMessage(
      `vembed: ${path.basename(doc.fileName)} has ${errors} error(s); fix them before training (see the Problems panel).`,
    );
    return;
  }
  const choice = choose ? await choose() : {};
  if (!choice) return;
  const cwd = workingDirectoryFor(doc.uri);
  const config = loadConfigText(doc.getText()).config!;
  const outputDir = resolveConfigPath(config.output_dir, cwd);
  const start = (resume?: string, overwrite = false): void => {
    const p = runs.startTraining(doc.uri.fsPath, cwd, outputDir, resume, overwrite, choice);
    if (!p) return;
    panel.showRun(outputDir);
    // The engine refuses an output_dir that holds an earlier run: ask, then run again with the answer.
    void p.exited.then(async (exit) => {
      if (exit.state.error?.code !== RUN_EXISTS_ERROR) return;
      const answer = await vscode.window.showWarningMessage(
        `vembed: ${exit.state.error.message}`,
        {
          modal: true,
          detail:
            'Resume continues it from its latest checkpoint. Overwrite deletes its checkpoints, events and evaluations (other files stay). To keep it, cancel and set another output_dir in the config.',
        },
        'Resume',
        'Overwrite',
      );
      if (answer === 'Resume') start('latest');
      else if (answer === 'Overwrite') start(undefined, true);
    });
  };
  start();
}

/** Trains with a config, on the engine the settings (and the config's `engine` key) name. */
export function train(ctx: Ctx): Handler {
  return (arg: unknown) => trainConfig(ctx, arg);
}

/** Trains with a config after asking which engine and, for PyTorch, how many processes (this run only). */
export function trainWith(ctx: Ctx): Handler {
  return (arg: unknown) => trainConfig(ctx, arg, pickTrainChoice);
}

/** Stops a training run (a pick when several run); it saves a checkpoint first. */
export function stop({ runs }: Ctx): Handler {
  return async () => {
    const active = runs.runningTraining();
    if (active.length === 0) {
      void vscode.window.showInformationMessage('vembed: no training run is in progress.');
      return;
    }
    const key =
      active.length === 1
        ? active[0]![0]
        : (
            await vscode.window.showQuickPick(
              active.map(([k]) => ({ label: vscode.workspace.asRelativePath(k), key: k })),
              { placeHolder: 'Run to stop' },
            )
          )?.key;
    if (key) await runs.stop(key);
  };
}

/** Resumes a run from its latest checkpoint with the config it was started with. */
export function resume({ runs, panel }: Ctx): Handler {
  return async () => {
    if (!runs.ensureTrusted('train')) return;
    const dir = await pickRun('Run to resume from its latest checkpoint');
    if (!dir) return;
    const state = readRun(dir)?.state;
    const configFile = state?.configFile;
    if (!configFile || !fs.existsSync(configFile)) {
      void vscode.window.showErrorMessage(
        `vembed: the config this run was started with is not available (${configFile ?? 'not recorded'}); run "vembed train --config FILE --resume ${dir}" from a terminal.`,
      );
      return;
    }
    const cwd = workingDirectoryFor(vscode.Uri.file(configFile));
    if (runs.startTraining(configFile, cwd, dir, 'latest')) panel.showRun(dir);
  };
}

/** Benchmarks a model or checkpoint folder on an SOP folder and shows the report. */
export function evaluate({ runs, panel }: Ctx): Handler {
  return async (arg: unknown) => {
    if (!runs.ensureTrusted('evaluate models')) return;
    const root = workspaceRoot();
    const model = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Benchmark this model',
      title: 'Model or checkpoint folder to benchmark',
      ...(arg instanceof vscode.Uri
        ? { defaultUri: vscode.Uri.file(path.dirname(arg.fsPath)) }
        : root
          ? { defaultUri: vscode.Uri.file(root) }
          : {}),
    });
    if (!model?.[0]) return;
    const sop = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Use this SOP folder',
      title: 'Folder holding Ebay_test.txt',
    });
    if (!sop?.[0]) return;
    if (!fs.existsSync(path.join(sop[0].fsPath, 'Ebay_test.txt'))) {
      void vscode.window.showErrorMessage(
        `vembed: ${sop[0].fsPath} has no Ebay_test.txt; choose the Stanford Online Products folder.`,
      );
      return;
    }
    const outDir = path.join(model[0].fsPath, 'benchmark-sop');
    const exit = await runs.runTask(
      'benchmark',
      ['benchmark', 'sop', '--model_path', model[0].fsPath, '--sop_root', sop[0].fsPath, '--output_dir', outDir],
      root ?? sop[0].fsPath,
    );
    if (exit?.state.status === 'completed') panel.showRun(outDir);
  };
}

/** Writes train.jsonl and val.jsonl from an SOP folder. */
export function prepareSop({ runs }: Ctx): Handler {
  return async () => {
    if (!runs.ensureTrusted('prepare data')) return;
    const sop = await vscode.window.showOpenDialog({
      canSelectFolders: true,
      canSelectFiles: false,
      openLabel: 'Prepare this folder',
      title: 'Stanford Online Products folder (holding Ebay_train.txt and Ebay_test.txt)',
    });
    if (!sop?.[0]) return;
    const exit = await runs.runTask(
      'prepare SOP data',
      ['prepare-sop', '--sop_root', sop[0].fsPath],
      workspaceRoot() ?? sop[0].fsPath,
    );
    if (exit?.state.status === 'completed')
      void vscode.window.showInformationMessage(`vembed: wrote train.jsonl and val.jsonl in ${sop[0].fsPath}.`);
  };
}

/** Opens the results panel on the current run or a picked one. */
export function openResults({ runs, panel }: Ctx): Handler {
  return async () => {
    const dir = runs.currentTrainKey ?? (await pickRun('Run to open'));
    if (dir) panel.showRun(dir);
  };
}

/** Searches a run's index with an image (argument or a pick) and shows the nearest images. */
export function findSimilar({ runs, panel }: Ctx): Handler {
  return async (arg: unknown) => {
    if (!runs.ensureTrusted('search images')) return;
    const image =
      arg instanceof vscode.Uri
        ? arg
        : (
            await vscode.window.showOpenDialog({
              canSelectMany: false,
              filters: { Images: [...SEARCHABLE_IMAGE_EXTENSIONS] },
            })
          )?.[0];
    if (!image) return;
    const runDir = await pickRun('Search with the index of which run?');
    if (!runDir) return;
    const k = vscode.workspace.getConfiguration('vembed').get<number>('topK', 20);
    let hits: ImageSearchHit[] | undefined;
    try {
      hits = await searchRunIndex(runs, runDir, image.fsPath, k, workingDirectoryFor(image));
    } catch (e) {
      if (e instanceof ImageSearchError) void vscode.window.showWarningMessage(`vembed: ${e.message}.`);
      else throw e;
    }
    if (!hits) return;
    if (panel.showSearchResults) {
      panel.showSearchResults(image.fsPath, hits);
      return;
    }
    const pick = await vscode.window.showQuickPick(
      hits.map((h) => ({
        label: path.basename(h.path),
        description: h.score.toFixed(3),
        detail: h.path,
        path: h.path,
      })),
      { placeHolder: `Nearest images to ${path.basename(image.fsPath)}` },
    );
    if (pick) void vscode.commands.executeCommand('vscode.open', vscode.Uri.file(pick.path));
  };
}

/** Shows the output channel with the engine's log. */
export function showLog({ output }: Ctx): Handler {
  return () => output.show(true);
}

/** Lists the backends this machine has and which one a run would get. */
export function doctor({ context, output, runs }: Ctx): Handler {
  return () =>
    runs.ensureTrusted('run the engine') &&
    backendSetup.runDoctor(runs, workspaceRoot() ?? context.extensionPath, output);
}

/** Offers the GPU backends (ONNX Runtime CUDA, tfjs-node-gpu) and installs the one chosen. */
export function installGpuBackend({ context, output, runs }: Ctx): Handler {
  return () => backendSetup.installGpuBackend(context, runs, output, workspaceRoot() ?? context.extensionPath);
}

/** Every command id bound to its factory; a missing or extra one fails the type check. */
export const COMMAND_TABLE: { readonly [K in keyof typeof COMMAND_IDS]: (ctx: Ctx) => Handler } = {
  validateConfig,
  train,
  trainWith,
  stop,
  resume,
  evaluate,
  prepareSop,
  openResults,
  findSimilar,
  showLog,
  doctor,
  installGpuBackend,
};

export function registerCommands(ctx: Ctx): void {
  for (const [key, factory] of Object.entries(COMMAND_TABLE)) {
    const id = COMMAND_IDS[key as keyof typeof COMMAND_IDS];
    ctx.context.subscriptions.push(vscode.commands.registerCommand(id, factory(ctx)));
  }
}
