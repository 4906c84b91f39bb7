/**
 * The Runs view: every run folder of the workspace (folders holding
 * events.jsonl, and the output_dir of each training config, which may lie
 * outside it), with its status, best Recall@1, epochs, backend and duration;
 * under each, its checkpoints and evaluations. Everything is read from the
 * folders (src/shared/runs), so a run started in a terminal shows as well, and
 * the view follows a run live through a file watcher on events.jsonl.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { loadConfigText } from '../../shared/config/validate';
import { resolveConfigPath } from '../../shared/config/workspaceChecks';
import { DEFAULT_CONFIG_GLOBS } from '../../shared/language/detect';
import { metricLabel } from '../../shared/metrics';
import { EVENTS_FILE, RUN_LOCK_FILE } from '../../shared/runs/runFolder';
import {
  describeRun,
  formatDuration,
  formatPercent,
  readRunSummary,
  type RunPhase,
  type RunSummary,
} from '../../shared/runs/summary';
import { workingDirectoryFor } from '../runController';

export const RUNS_VIEW_ID = 'vembed.runs';

/** A run folder in the view; also what the Runs view's commands receive. */
export interface RunNode {
  kind: 'run';
  runDir: string;
  summary: RunSummary;
}

export interface CheckpointNode {
  kind: 'checkpoint';
  runDir: string;
  checkpoint: string;
  epoch: number;
  step: number;
}

export interface EvaluationNode {
  kind: 'evaluation';
  runDir: string;
  epoch: number;
  metrics: Record<string, number>;
  reportPath?: string;
}

export type RunsNode = RunNode | CheckpointNode | EvaluationNode;

const STATUS_ICON: Record<RunPhase, [string, string]> = {
  running: ['sync~spin', 'charts.blue'],
  finished: ['pass', 'charts.green'],
  stopped: ['debug-pause', 'charts.yellow'],
  failed: ['error', 'charts.red'],
};

/** Changes to events.jsonl come in bursts (a step per line): the view redraws at most this often. */
const REFRESH_DEBOUNCE_MS = 400;

/** Run folders: those holding events.jsonl in the workspace, and the output_dir of every config found. */
async function findRunFolders(): Promise<string[]> {
  const exclude = '**/node_modules/**';
  const found = new Set<string>();
  for (const f of await vscode.workspace.findFiles(`**/${EVENTS_FILE}`, exclude, 1000))
    found.add(path.dirname(f.fsPath));
  const globs = vscode.workspace.getConfiguration('vembed').get<string[]>('configGlobs', [...DEFAULT_CONFIG_GLOBS]);
  const configs = (await Promise.all(globs.map((g) => vscode.workspace.findFiles(g, exclude, 200)))).flat();
  for (const uri of configs) {
    try {
      const outputDir = loadConfigText(fs.readFileSync(uri.fsPath, 'utf8')).config?.output_dir;
      if (typeof outputDir !== 'string') continue;
      const dir = resolveConfigPath(outputDir, workingDirectoryFor(uri));
      if (fs.existsSync(path.join(dir, EVENTS_FILE))) found.add(dir);
    } catch {
      // An unreadable or broken config names no run; the editor shows its problems.
    }
  }
  return [...found];
}

export class RunsTree implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];
  private timer: NodeJS.Timeout | undefined;
  private runs: RunNode[] | undefined;

  constructor() {
    // The lock file goes when a run ends, with or without a last event (a killed run): running -> stopped.
    const watcher = vscode.workspace.createFileSystemWatcher(`**/{${EVENTS_FILE},${RUN_LOCK_FILE}}`);
    const configWatcher = vscode.workspace.createFileSystemWatcher('**/*.{yaml,yml}');
    for (const w of [watcher, configWatcher]) {
      this.disposables.push(
        w,
        w.onDidCreate(() => this.refreshSoon()),
        w.onDidChange(() => this.refreshSoon()),
        w.onDidDelete(() => this.refreshSoon()),
      );
    }
  }

  /** Re-read every run folder now. */
  refresh(): void {
    this.runs = undefined;
    this.changed.fire(undefined);
  }

  /**
   * Re-read at most every REFRESH_DEBOUNCE_MS: a training run appends a line per step. A pending refresh
   * is not pushed back by later changes, so a run writing faster than that still redraws while it trains.
   */
  refreshSoon(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refresh();
    }, REFRESH_DEBOUNCE_MS);
  }

  /** The runs as last listed (newest first). */
  async listRuns(): Promise<RunNode[]> {
    if (!this.runs) {
      const summaries = (await findRunFolders())
        .map((dir) => readRunSummary(dir))
        .filter((s): s is RunSummary => s !== undefined);
      summaries.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || a.dir.localeCompare(b.dir));
      this.runs = summaries.map((summary) => ({ kind: 'run', runDir: summary.dir, summary }));
    }
    return this.runs;
  }

  async getChildren(node?: RunsNode): Promise<RunsNode[]> {
    if (!node) return this.listRuns();
    if (node.kind !== 'run') return [];
    const s = node.summary;
    const checkpoints: CheckpointNode[] = s.checkpoints
      .filter((c) => fs.existsSync(c.path))
      .map((c) => ({ kind: 'checkpoint', runDir: node.runDir, checkpoint: c.path, epoch: c.epoch, step: c.step }));
    const evaluations: EvaluationNode[] = s.evaluations.map((e) => ({
      kind: 'evaluation',
      runDir: node.runDir,
      epoch: e.epoch,
      metrics: e.metrics,
      ...(e.reportPath ? { reportPath: path.resolve(node.runDir, e.reportPath) } : {}),
    }));
    return [...checkpoints, ...evaluations];
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'run':
        return runItem(node);
      case 'checkpoint': {
        const item = new vscode.TreeItem(path.basename(node.checkpoint), vscode.TreeItemCollapsibleState.None);
        item.id = `checkpoint:${node.checkpoint}`;
        item.description = `epoch ${node.epoch}, step ${node.step}`;
        item.iconPath = new vscode.ThemeIcon('save');
        item.contextValue = 'vembedCheckpoint';
        item.resourceUri = vscode.Uri.file(node.checkpoint);
        item.tooltip = node.checkpoint;
        return item;
      }
      case 'evaluation': {
        const r1 = node.metrics['recall@1'];
        const item = new vscode.TreeItem(
          node.epoch === 0 ? 'evaluation before training' : `evaluation epoch ${node.epoch}`,
          vscode.TreeItemCollapsibleState.None,
        );
        item.id = `evaluation:${node.runDir}:${node.epoch}`;
        item.description = `R@1 ${formatPercent(r1)}`;
        item.tooltip = Object.entries(node.metrics)
          .map(([k, v]) => `${metricLabel(k)} ${formatPercent(v)}`)
          .join('\n');
        item.iconPath = new vscode.ThemeIcon('graph');
        item.contextValue = 'vembedEvaluation';
        if (node.reportPath && fs.existsSync(node.reportPath))
          item.command = {
            command: 'vscode.open',
            title: 'Open Report',
            arguments: [vscode.Uri.file(node.reportPath)],
          };
        return item;
      }
    }
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}

function runItem(node: RunNode): vscode.TreeItem {
  const s = node.summary;
  const item = new vscode.TreeItem(vscode.workspace.asRelativePath(s.dir), vscode.TreeItemCollapsibleState.Collapsed);
  item.id = `run:${s.dir}`;
  item.description = describeRun(s);
  const [icon, colour] = STATUS_ICON[s.status];
  item.iconPath = new vscode.ThemeIcon(icon, new vscode.ThemeColor(colour));
  // `vembedRun.finished` etc.: menus pick actions by status (Resume for stopped runs).
  item.contextValue = `vembedRun.${s.status}`;
  const tip = new vscode.MarkdownString(undefined, true);
  tip.appendMarkdown(`**${s.dir}**\n\n`);
  tip.appendMarkdown(`- status: ${s.status}${s.error ? ` (${s.error})` : ''}\n`);
  if (s.bestRecall1 !== undefined)
    tip.appendMarkdown(`- best Recall@1: ${formatPercent(s.bestRecall1)} (epoch ${s.bestEpoch})\n`);
  tip.appendMarkdown(`- epochs: ${s.epochsDone}${s.epochsTotal !== undefined ? ` of ${s.epochsTotal}` : ''}\n`);
  if (s.backend) tip.appendMarkdown(`- backend: ${s.backend}${s.device ? ` (${s.device})` : ''}\n`);
  if (s.durationSeconds !== undefined) tip.appendMarkdown(`- duration: ${formatDuration(s.durationSeconds)}\n`);
  if (s.configFile) tip.appendMarkdown(`- config: ${s.configFile}\n`);
  item.tooltip = tip;
  return item;
}
