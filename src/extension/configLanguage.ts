/**
 * Config IntelliSense: a thin adapter from VS Code's provider APIs to the
 * pure language modules in src/shared/language (which take text and a
 * position and return plain data).
 */
import * as vscode from 'vscode';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { complete, type CompletionItem as Item, type DirEntry } from '../shared/language/completion';
import { hover } from '../shared/language/hover';
import { codeActionsFor } from '../shared/language/codeActions';
import { codeLenses, type LensAction } from '../shared/language/codeLens';
import { diagnoseConfig } from '../shared/language/diagnostics';
import { DEFAULT_CONFIG_GLOBS, isTrainingConfig } from '../shared/language/detect';
import type { Diagnostic as ConfigDiagnostic, Range as ConfigRange } from '../shared/config/validate';
import type { FileProbe } from '../shared/config/workspaceChecks';
import { COMMAND_IDS } from './commandIds';

const SELECTOR: vscode.DocumentSelector = [
  { language: 'yaml', scheme: 'file' },
  { language: 'yaml', scheme: 'untitled' },
];

const LENS_COMMANDS: Record<LensAction, string> = {
  train: COMMAND_IDS.train,
  validate: COMMAND_IDS.validateConfig,
  benchmark: COMMAND_IDS.evaluate,
};

const fileProbe: FileProbe = {
  kind(p) {
    try {
      return fs.statSync(p).isDirectory() ? 'dir' : 'file';
    } catch {
      return undefined;
    }
  },
};

function toRange(r: ConfigRange): vscode.Range {
  return new vscode.Range(r.start.line, r.start.character, r.end.line, r.end.character);
}

/** Paths in configs are relative to the workspace folder (the engine's working directory). */
function baseDirOf(doc: vscode.TextDocument): string {
  return vscode.workspace.getWorkspaceFolder(doc.uri)?.uri.fsPath ?? path.dirname(doc.uri.fsPath);
}

function relativePath(doc: vscode.TextDocument): string {
  const folder = vscode.workspace.getWorkspaceFolder(doc.uri);
  return folder ? path.relative(folder.uri.fsPath, doc.uri.fsPath) : path.basename(doc.uri.fsPath);
}

export function isConfigDocument(doc: vscode.TextDocument): boolean {
  if (doc.languageId !== 'yaml') return false;
  const globs = vscode.workspace.getConfiguration('vembed').get<string[]>('configGlobs', [...DEFAULT_CONFIG_GLOBS]);
  return isTrainingConfig(relativePath(doc), doc.getText(), globs);
}

function toVscodeDiagnostic(d: ConfigDiagnostic): vscode.Diagnostic {
  const severity =
    d.severity === 'error'
      ? vscode.DiagnosticSeverity.Error
      : d.severity === 'warning'
        ? vscode.DiagnosticSeverity.Warning
        : vscode.DiagnosticSeverity.Information;
  const range = d.range ? toRange(d.range) : new vscode.Range(0, 0, 0, 0);
  const diag = new vscode.Diagnostic(range, d.message.replace(/`/g, "'"), severity);
  diag.source = 'vembed';
  diag.code = d.code;
  return diag;
}

const COMPLETION_KINDS: Record<Item['kind'], vscode.CompletionItemKind> = {
  key: vscode.CompletionItemKind.Property,
  value: vscode.CompletionItemKind.Value,
  file: vscode.CompletionItemKind.File,
  folder: vscode.CompletionItemKind.Folder,
};

export class ConfigLanguage implements vscode.Disposable {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('vembed');
  /** The last plain-data diagnostics per document, for quick fixes. */
  private readonly raw = new Map<string, ConfigDiagnostic[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly lensChanged = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[] = [this.diagnostics, this.lensChanged];

  constructor() {
    const d = this.disposables;
    d.push(
      vscode.workspace.onDidOpenTextDocument((doc) => this.refresh(doc)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document)),
      vscode.workspace.onDidCloseTextDocument((doc) => this.forget(doc)),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('vembed.configGlobs'))
          vscode.workspace.textDocuments.forEach((doc) => this.refresh(doc));
      }),
      vscode.languages.registerCompletionItemProvider(
        SELECTOR,
        { provideCompletionItems: (doc, pos) => this.completions(doc, pos) },
        ':',
        ' ',
        '/',
        '-',
      ),
      vscode.languages.registerHoverProvider(SELECTOR, { provideHover: (doc, pos) => this.hover(doc, pos) }),
      vscode.languages.registerCodeActionsProvider(
        SELECTOR,
        { provideCodeActions: (doc, range) => this.codeActions(doc, range) },
        { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] },
      ),
      vscode.languages.registerCodeLensProvider(SELECTOR, {
        onDidChangeCodeLenses: this.lensChanged.event,
        provideCodeLenses: (doc) => this.lenses(doc),
      }),
    );
    vscode.workspace.textDocuments.forEach((doc) => this.refresh(doc));
  }

  /** Re-validate now; returns the diagnostics (undefined if the file is not a config). */
  refresh(doc: vscode.TextDocument): ConfigDiagnostic[] | undefined {
    if (!isConfigDocument(doc)) {
      this.forget(doc);
      return undefined;
    }
    const found = diagnoseConfig(doc.getText(), baseDirOf(doc), fileProbe);
    this.raw.set(doc.uri.toString(), found);
    this.diagnostics.set(doc.uri, found.map(toVscodeDiagnostic));
    this.lensChanged.fire();
    return found;
  }

  private schedule(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.refresh(doc);
      }, 150),
    );
  }

  private forget(doc: vscode.TextDocument): void {
    this.raw.delete(doc.uri.toString());
    this.diagnostics.delete(doc.uri);
  }

  private completions(doc: vscode.TextDocument, pos: vscode.Position): vscode.CompletionItem[] | undefined {
    if (!isConfigDocument(doc)) return undefined;
    const base = baseDirOf(doc);
    const listDir = (rel: string): DirEntry[] | undefined => {
      try {
        return fs
          .readdirSync(path.join(base, rel), { withFileTypes: true })
          .map((e) => ({ name: e.name, isDir: e.isDirectory() }));
      } catch {
        return undefined;
      }
    };
    return complete(doc.getText(), { line: pos.line, character: pos.character }, { listDir }).map((it) => {
      const item = new vscode.CompletionItem(it.label, COMPLETION_KINDS[it.kind]);
      item.insertText = it.insertText;
      item.range = toRange(it.range);
      item.sortText = it.sortText;
      // Filter on what is typed in the range, not on the inserted `key: value`.
      item.filterText = it.label;
      if (it.detail) item.detail = it.detail;
      if (it.documentation) item.documentation = new vscode.MarkdownString(it.documentation);
      if (it.kind === 'folder') item.command = { command: 'editor.action.triggerSuggest', title: 'Re-trigger' };
      return item;
    });
  }

  private hover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    if (!isConfigDocument(doc)) return undefined;
    const h = hover(doc.getText(), { line: pos.line, character: pos.character });
    return h ? new vscode.Hover(new vscode.MarkdownString(h.markdown), toRange(h.range)) : undefined;
  }

  private codeActions(doc: vscode.TextDocument, range: vscode.Range | vscode.Selection): vscode.CodeAction[] {
    const raw = this.raw.get(doc.uri.toString()) ?? [];
    const here = raw.filter((d) => d.range && toRange(d.range).intersection(range) !== undefined);
    const shown = this.diagnostics.get(doc.uri) ?? [];
    return codeActionsFor(doc.getText(), here).map((a) => {
      const action = new vscode.CodeAction(a.title, vscode.CodeActionKind.QuickFix);
      const edit = new vscode.WorkspaceEdit();
      for (const e of a.edits) edit.replace(doc.uri, toRange(e.range), e.newText);
      action.edit = edit;
      action.isPreferred = a.isPreferred;
      const match = shown.find(
        (s) => s.code === a.diagnostic.code && a.diagnostic.range && s.range.isEqual(toRange(a.diagnostic.range)),
      );
      if (match) action.diagnostics = [match];
      return action;
    });
  }

  private lenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const raw = this.raw.get(doc.uri.toString());
    if (!raw) return [];
    return codeLenses(doc.getText(), raw).map(
      (l) =>
        new vscode.CodeLens(toRange(l.range), {
          title: l.title,
          command: LENS_COMMANDS[l.action],
          arguments: [doc.uri],
        }),
    );
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    vscode.Disposable.from(...this.disposables).dispose();
  }
}
