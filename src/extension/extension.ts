/**
 * The VS Code side: a thin client. Intelligence lives in src/shared (config
 * language) and in the engine process (training, evaluation, search), which
 * runs as a separate Node process, never in the extension host.
 */
import * as vscode from 'vscode';
import { ConfigLanguage, isConfigDocument } from './configLanguage';
import { RunController } from './runController';
import { registerCommands } from './commands';
import { ResultsPanels } from './panel/resultsPanel';
import { RESULTS_VIEW_TYPE } from '../shared/panelProtocol';
import { searchRunIndex } from './imageSearch';
import { RUNS_VIEW_ID, RunsTree } from './runs/runsTree';
import { stepDone } from './walkthrough';

let runs: RunController | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('vembed', { log: true });
  const language = new ConfigLanguage();
  // The panels follow runs the controller starts; runs start only after activation, when `panels` exists.
  const controller = new RunController(context, output, {
    onRunStarted: (dir, p) => {
      panels.onRunStarted(dir, p);
      runsTree.refreshSoon();
      void p.exited.then((exit) => {
        runsTree.refreshSoon();
        if (exit.state.status === 'completed') stepDone('trained');
      });
    },
  });
  runs = controller;
  const panels = new ResultsPanels({
    extensionUri: context.extensionUri,
    storageUri: context.globalStorageUri,
    liveRun: (dir) => controller.processFor(dir),
    // Search by image from the panel: the engine embeds the image and searches the run's index.
    searchImage: async ({ runDir, imagePath, topK }) => {
      if (!runDir) throw new Error('open a run first: the search uses its index');
      if (!controller.ensureTrusted('search images')) throw new Error('the workspace is not trusted');
      const hits = await searchRunIndex(controller, runDir, imagePath, topK, runDir);
      if (!hits) throw new Error('the search was cancelled');
      return hits;
    },
    log: output,
    onQueryOpened: () => stepDone('queryClicked'),
  });
  const runsTree = new RunsTree();
  // Several runs may be selected: Compare Runs takes the selection.
  const runsView = vscode.window.createTreeView(RUNS_VIEW_ID, {
    treeDataProvider: runsTree,
    canSelectMany: true,
    showCollapseAll: true,
  });
  const noticeConfig = (editor: vscode.TextEditor | undefined) => {
    if (editor && isConfigDocument(editor.document)) stepDone('configOpened');
  };
  noticeConfig(vscode.window.activeTextEditor);
  context.subscriptions.push(
    output,
    language,
    controller,
    panels,
    vscode.window.registerWebviewPanelSerializer(RESULTS_VIEW_TYPE, panels),
    runsTree,
    runsView,
    vscode.window.onDidChangeActiveTextEditor(noticeConfig),
  );
  registerCommands({ context, output, language, runs: controller, panel: panels, runsTree, runsView });
  output.info(
    `vembed activated; ${vscode.workspace.textDocuments.filter(isConfigDocument).length} config(s) open; workspace ${vscode.workspace.isTrusted ? 'trusted' : 'untrusted: nothing will run'}`,
  );
}

/** Engine processes are killed with the extension: nothing is left running. */
export function deactivate(): void {
  runs?.dispose();
  runs = undefined;
}
