/**
 * The commands of the Runs view and of the workflow around it (compare,
 * delete, reveal, export, new config, prepare data, sample data), one named
 * factory each; commands.ts binds them in its table. Runs are read from their
 * folders (src/shared/runs); anything that computes runs in an engine process,
 * and only in a trusted workspace.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CONFIG_TEMPLATES, renderConfigTemplate, type ConfigTemplateId } from '../shared/config/templates';
import { writeFileAtomic } from '../shared/fs/atomic';
import { MAX_COMPARED_RUNS, MIN_COMPARED_RUNS } from '../shared/runs/compare';
import { deleteRun as removeRun, planRunDeletion } from '../shared/runs/deletion';
import { readRunSummary, describeRun } from '../shared/runs/summary';
import { UserError } from '../shared/userError';
import { COMMAND_IDS } from './commandIds';
import type { Ctx, Handler } from './commands';
import { showComparison } from './runs/comparePanel';
import type { RunNode, RunsNode } from './runs/runsTree';
import { stepDone } from './walkthrough';
import { pickRun } from './history';
import { exportOnnxArgs, prepareDataArgs } from './engineClient/commandLines';

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function isRunsNode(arg: unknown): arg is RunsNode {
  return typeof arg === 'object' && arg !== null && typeof (arg as { runDir?: unknown }).runDir === 'string';
}

/** The run folder a command was invoked on: a Runs view item, a folder Uri, or none. */
export function runDirOf(arg: unknown): string | undefined {
  if (isRunsNode(arg)) return arg.runDir;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  return undefined;
}

/** Re-reads every run folder into the Runs view. */
export function refreshRuns({ runsTree }: Ctx): Handler {
  return () => runsTree?.refresh();
}

/** A quick pick of the workspace's runs, several allowed; resolves to their folders. */
async function pickRuns(ctx: Ctx, placeHolder: string): Promise<string[]> {
  const runs = (await ctx.runsTree?.listRuns()) ?? [];
  if (runs.length < MIN_COMPARED_RUNS) {
    void vscode.window.showInformationMessage(
      `vembed: comparing needs at least ${MIN_COMPARED_RUNS} runs; this workspace has ${runs.length}.`,
    );
    return [];
  }
  const picked = await vscode.window.showQuickPick(
    runs.map((r: RunNode) => ({
      label: vscode.workspace.asRelativePath(r.runDir),
      description: describeRun(r.summary),
      dir: r.runDir,
    })),
    { placeHolder, canPickMany: true, matchOnDescription: true },
  );
  return picked?.map((p) => p.dir) ?? [];
}

/** The runs selected in the Runs view: what its title bar and the palette act on. */
function selectedRuns(ctx: Ctx): string[] {
  return (ctx.runsView?.selection ?? []).filter((n): n is RunNode => n.kind === 'run').map((n) => n.runDir);
}

/**
 * Compares 2-6 runs: those selected in the Runs view (a context menu passes
 * the clicked item and the whole selection; the title bar and the palette
 * read the selection), else a multi-select pick.
 */
export function compareRuns(ctx: Ctx): Handler {
  return async (clicked: unknown, selected: unknown) => {
    const fromMenu = (Array.isArray(selected) ? selected : [clicked])
      .filter((n): n is RunNode => isRunsNode(n) && n.kind === 'run')
      .map((n) => n.runDir);
    const fromView = fromMenu.length >= MIN_COMPARED_RUNS ? fromMenu : selectedRuns(ctx);
    const dirs =
      fromView.length >= MIN_COMPARED_RUNS
        ? fromView
        : await pickRuns(ctx, `Runs to compare (${MIN_COMPARED_RUNS} to ${MAX_COMPARED_RUNS})`);
    if (dirs.length === 0) return;
    if (dirs.length < MIN_COMPARED_RUNS || dirs.length > MAX_COMPARED_RUNS) {
      void vscode.window.showWarningMessage(
        `vembed: choose ${MIN_COMPARED_RUNS} to ${MAX_COMPARED_RUNS} runs to compare; ${dirs.length} chosen.`,
      );
      return;
    }
    try {
      showComparison(ctx.context.extensionUri, [...new Set(dirs)]);
    } catch (e) {
      void vscode.window.showErrorMessage(`vembed: ${(e as Error).message}`);
    }
  };
}

/**
 * Deletes a run after a modal confirmation that lists what goes and what
 * stays: only what the run wrote (src/shared/runs/deletion.ts).
 */
export function deleteRun(ctx: Ctx): Handler {
  return async (arg: unknown) => {
    const selected = selectedRuns(ctx);
    const dir = runDirOf(arg) ?? (selected.length === 1 ? selected[0] : await pickRun('Run to delete'));
    if (!dir) return;
    let plan;
    try {
      plan = planRunDeletion(dir);
    } catch (e) {
      void vscode.window.showErrorMessage(`vembed: ${(e as Error).message}`);
      return;
    }
    const names = plan.remove.map((p) => path.basename(p));
    const detail = [
      `Removes what the run wrote (${names.length}): ${names.join(', ')}.`,
      plan.keep.length > 0
        ? `Keeps what it did not write (${plan.keep.length}): ${plan.keep.join(', ')}.`
        : 'Nothing else is in the folder, so the folder goes too.',
    ].join('\n\n');
    const choice = await vscode.window.showWarningMessage(
      `Delete the run ${vscode.workspace.asRelativePath(plan.runDir)}?`,
      { modal: true, detail },
      'Delete',
    );
    if (choice !== 'Delete') return;
    try {
      const folderGone = removeRun(plan);
      ctx.output.info(
        `deleted the run in ${plan.runDir}: ${names.join(', ')}${folderGone ? ' (and the empty folder)' : `; kept ${plan.keep.join(', ')}`}`,
      );
    } catch (e) {
      const hint = e instanceof UserError && e.hint ? ` ${e.hint}` : '';
      void vscode.window.showErrorMessage(`vembed: ${(e as Error).message}.${hint}`);
    }
    ctx.runsTree?.refresh();
  };
}

/** Shows a run folder (or a checkpoint) in the Explorer, or in the OS's file manager when outside the workspace. */
export function revealRun(): Handler {
  return async (arg: unknown) => {
    const target = isRunsNode(arg) && arg.kind === 'checkpoint' ? arg.checkpoint : runDirOf(arg);
    if (!target) return;
    const uri = vscode.Uri.file(target);
    if (vscode.workspace.getWorkspaceFolder(uri)) await vscode.commands.executeCommand('revealInExplorer', uri);
    else await vscode.commands.executeCommand('revealFileInOS', uri);
  };
}

/** The ONNX precisions `vembed export onnx --precision` writes. */
const PRECISIONS = [
  { label: 'fp32', description: 'float32 weights: what vembed computes, the reference' },
  { label: 'fp16', description: 'float16 weights: half the size, for GPUs' },
  { label: 'int8', description: 'int8 weights (dynamic quantisation): a quarter of the size, for CPUs' },
] as const;

/** The checkpoint to export: the item's, else one of the run's (the last first), else a folder dialog. */
async function chooseCheckpoint(arg: unknown): Promise<string | undefined> {
  if (isRunsNode(arg) && arg.kind === 'checkpoint') return arg.checkpoint;
  const dir = runDirOf(arg);
  const checkpoints = dir
    ? (readRunSummary(dir)?.checkpoints ?? []).filter((c) => fs.existsSync(c.path)).reverse()
    : [];
  if (checkpoints.length === 1) return checkpoints[0]!.path;
  if (checkpoints.length > 1) {
    const pick = await vscode.window.showQuickPick(
      checkpoints.map((c) => ({
        label: path.basename(c.path),
        description: `epoch ${c.epoch}, step ${c.step}`,
        dir: c.path,
      })),
      { placeHolder: 'Checkpoint to export' },
    );
    return pick?.dir;
  }
  const root = workspaceRoot();
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    openLabel: 'Export this model',
    title: 'Checkpoint or model folder to export to ONNX',
    ...(dir ? { defaultUri: vscode.Uri.file(dir) } : root ? { defaultUri: vscode.Uri.file(root) } : {}),
  });
  return picked?.[0]?.fsPath;
}

/** Exports a checkpoint to ONNX at a chosen precision: `vembed export onnx --model CKPT --out FILE --precision P`. */
export function exportOnnx({ runs }: Ctx): Handler {
  return async (arg: unknown) => {
    if (!runs.ensureTrusted('export models')) return;
    const checkpoint = await chooseCheckpoint(arg);
    if (!checkpoint) return;
    const precision = (
      await vscode.window.showQuickPick([...PRECISIONS], { placeHolder: `Precision of ${path.basename(checkpoint)}` })
    )?.label;
    if (!precision) return;
    const target = await vscode.window.showSaveDialog({
      defaultUri: vscode.Uri.file(path.join(checkpoint, `model-${precision}.onnx`)),
      filters: { 'ONNX model': ['onnx'] },
      title: 'Where to write the ONNX model',
    });
    if (!target) return;
    const exit = await runs.runTask(
      'export ONNX',
      exportOnnxArgs(checkpoint, target.fsPath, precision),
      workspaceRoot() ?? path.dirname(checkpoint),
    );
    if (exit?.state.status !== 'completed') return;
    stepDone('exported');
    const choice = await vscode.window.showInformationMessage(
      `vembed: wrote ${vscode.workspace.asRelativePath(target)} (${precision}).`,
      'Reveal',
    );
    if (choice) await vscode.commands.executeCommand('revealFileInOS', target);
  };
}

/**
 * Writes a new training config from a template (SOP with DINOv2-small or
 * -base, the sample set, data prepared by Prepare Data) and opens it. The
 * `prepared` template takes `{ dataDir, imageRoot }` from Prepare Data.
 */
export function newConfig({ context }: Ctx): Handler {
  return async (arg: unknown) => {
    const given = typeof arg === 'object' && arg !== null ? (arg as { dataDir?: string; imageRoot?: string }) : {};
    const root = workspaceRoot();
    const template =
      given.dataDir !== undefined
        ? CONFIG_TEMPLATES.find((t) => t.id === 'prepared')!
        : await vscode.window.showQuickPick(
            CONFIG_TEMPLATES.map((t) => ({ ...t, label: t.label, detail: t.detail })),
            { placeHolder: 'Start the config from' },
          );
    if (!template) return;
    const relative = (p: string) => (root && !path.relative(root, p).startsWith('..') ? path.relative(root, p) : p);
    let dataDir = given.dataDir;
    if (template.id === 'prepared' && dataDir === undefined) {
      const picked = await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        openLabel: 'Use this data',
        title: 'Folder holding train.jsonl and val.jsonl (from vembed: Prepare Data...)',
        ...(root ? { defaultUri: vscode.Uri.file(root) } : {}),
      });
      if (!picked?.[0]) return;
      dataDir = picked[0].fsPath;
    }
    const tiny = path.join(context.extensionPath, 'models', 'vembed-tiny');
    const text = renderConfigTemplate(template.id as ConfigTemplateId, {
      ...(dataDir !== undefined ? { dataDir: relative(dataDir) } : {}),
      ...(given.imageRoot !== undefined ? { imageRoot: relative(given.imageRoot) } : {}),
      ...(template.id === 'sample' && fs.existsSync(path.join(tiny, 'config.json')) ? { sampleModel: tiny } : {}),
    });
    const target = await vscode.window.showSaveDialog({
      ...(root ? { defaultUri: vscode.Uri.file(path.join(root, template.fileName)) } : {}),
      filters: { 'Training config': ['yaml', 'yml'] },
      title: 'Save the new training config',
    });
    if (!target) return;
    writeFileAtomic(target.fsPath, text);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(target));
  };
}

/**
 * Prepares the user's own images for training: asks the layout (one folder
 * per product, or a CSV of image and product) and where, runs
 * `vembed prepare-data` in an engine process, then offers a config for it.
 */
export function prepareData({ runs }: Ctx): Handler {
  return async () => {
    if (!runs.ensureTrusted('prepare data')) return;
    const layout = (
      await vscode.window.showQuickPick(
        [
          {
            label: 'Folders',
            detail: 'one folder per product holding its images (optionally inside super-class folders)',
            layout: 'folders' as const,
          },
          {
            label: 'CSV',
            detail: 'a CSV/TSV file with one image a row: its path and its product id (and super class)',
            layout: 'csv' as const,
          },
        ],
        { placeHolder: 'How are your images organised?' },
      )
    )?.layout;
    if (!layout) return;
    const root = workspaceRoot();
    const source = (
      await vscode.window.showOpenDialog({
        canSelectFolders: layout === 'folders',
        canSelectFiles: layout === 'csv',
        ...(layout === 'csv' ? { filters: { 'CSV / TSV': ['csv', 'tsv', 'txt'] } } : {}),
        openLabel: 'Prepare this',
        title: layout === 'folders' ? 'Folder with one sub-folder per product' : 'CSV listing image, product',
        ...(root ? { defaultUri: vscode.Uri.file(root) } : {}),
      })
    )?.[0]?.fsPath;
    if (!source) return;
    const sourceDir = layout === 'folders' ? source : path.dirname(source);
    const out = (
      await vscode.window.showOpenDialog({
        canSelectFolders: true,
        canSelectFiles: false,
        openLabel: 'Write train.jsonl and val.jsonl here',
        title: 'Where to write the prepared lists',
        defaultUri: vscode.Uri.file(sourceDir),
      })
    )?.[0]?.fsPath;
    if (!out) return;
    const exit = await runs.runTask('prepare data', prepareDataArgs(layout, source, out), root ?? sourceDir);
    if (exit?.state.status !== 'completed') return;
    const choice = await vscode.window.showInformationMessage(
      `vembed: prepared ${vscode.workspace.asRelativePath(out)} (train.jsonl, val.jsonl).`,
      'Create a Training Config',
    );
    if (choice) await vscode.commands.executeCommand(COMMAND_IDS.newConfig, { dataDir: out, imageRoot: sourceDir });
  };
}

/** Copies the built-in sample set into the workspace (data/sample-sop), where the sample config expects it. */
export function getSampleData({ runs }: Ctx): Handler {
  return async () => {
    if (!runs.ensureTrusted('copy the sample data')) return;
    const root = workspaceRoot();
    if (!root) {
      void vscode.window.showWarningMessage('vembed: open a folder first; the sample set is copied into it.');
      return;
    }
    const out = path.join(root, 'data', 'sample-sop');
    const exit = await runs.runTask('sample data', ['sample-data', '--out', out], root);
    if (exit?.state.status !== 'completed') return;
    stepDone('sampleData');
    const choice = await vscode.window.showInformationMessage(
      `vembed: the sample set is in ${vscode.workspace.asRelativePath(out)}.`,
      'New Training Config',
    );
    if (choice) await vscode.commands.executeCommand(COMMAND_IDS.newConfig);
  };
}
