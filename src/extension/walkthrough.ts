/**
 * The "Get started" walkthrough's steps complete on what really happened,
 * not on a button press: each sets a context key that the step's
 * completionEvents (`onContext:...` in package.json) wait for.
 */
import * as vscode from 'vscode';

export const WALKTHROUGH_KEYS = {
  /** `vembed sample-data` finished (Get Sample Data). */
  sampleData: 'vembed.walkthrough.sampleData',
  /** A training config is open in an editor. */
  configOpened: 'vembed.walkthrough.configOpened',
  /** A training run finished (completed). */
  trained: 'vembed.walkthrough.trained',
  /** A results panel was opened on a run. */
  resultsOpened: 'vembed.walkthrough.resultsOpened',
  /** A query's neighbours were shown in the results panel. */
  queryClicked: 'vembed.walkthrough.queryClicked',
  /** A model was exported to ONNX. */
  exported: 'vembed.walkthrough.exported',
} as const;

export type WalkthroughStep = keyof typeof WALKTHROUGH_KEYS;

const done = new Set<WalkthroughStep>();

/** Marks a step done (once per session; VS Code remembers completed steps itself). */
export function stepDone(step: WalkthroughStep): void {
  if (done.has(step)) return;
  done.add(step);
  void vscode.commands.executeCommand('setContext', WALKTHROUGH_KEYS[step], true);
}
