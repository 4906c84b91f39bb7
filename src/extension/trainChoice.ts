/**
 * "vembed: Train with...": which engine, and for PyTorch how many processes,
 * for one run. Plain Train never asks (the settings answer); this command is
 * for the run that should differ from them.
 */
import * as vscode from 'vscode';
import { trainingSettings } from './engineClient/launch';
import { processCountProblem, type EngineSettingValue, type TrainChoice } from './engineClient/trainFlags';

const ENGINE_ITEMS: { engine: EngineSettingValue; label: string; detail: string }[] = [
  {
    engine: 'auto',
    label: 'As the config says',
    detail: "The config's `engine` key decides (vembed's engine unless it says torch).",
  },
  {
    engine: 'onnx',
    label: "vembed's engine (ONNX Runtime / TF.js)",
    detail: 'Node.js only; on the backend of the vembed.backend setting.',
  },
  {
    engine: 'torch',
    label: 'PyTorch (transformers + peft + accelerate)',
    detail:
      'In the Python of vembed.pythonPath (or the one vembed finds: vembed: Doctor shows it); GPUs, several processes.',
  },
];

const PROCESS_COUNTS = [1, 2, 4, 8];

async function pickProcesses(current: number): Promise<number | undefined> {
  const counts = [...new Set([current, ...PROCESS_COUNTS])].sort((a, b) => a - b);
  const other = { label: 'Other...', n: 0, description: '' };
  const pick = await vscode.window.showQuickPick(
    [
      ...counts.map((n) => ({
        label: `${n} process${n === 1 ? '' : 'es'}`,
        description: n === current ? '(vembed.training.numProcesses)' : n > 1 ? 'one per GPU (accelerate)' : '',
        n,
      })),
      other,
    ],
    { title: 'vembed: Train with PyTorch', placeHolder: 'How many processes (usually one per GPU)' },
  );
  if (!pick) return undefined;
  if (pick !== other) return pick.n;
  const typed = await vscode.window.showInputBox({
    title: 'vembed: Train with PyTorch',
    prompt: 'Number of processes (one per GPU)',
    value: String(current),
    validateInput: processCountProblem,
  });
  return typed === undefined ? undefined : Number(typed);
}

/** Asks for the engine (and processes); undefined when the user cancels. */
export async function pickTrainChoice(): Promise<TrainChoice | undefined> {
  const settings = trainingSettings();
  const pick = await vscode.window.showQuickPick(
    ENGINE_ITEMS.map((i) => ({
      ...i,
      description: i.engine === settings.engine ? '(vembed.training.engine)' : '',
    })),
    {
      title: 'vembed: Train with...',
      placeHolder: 'Engine for this run (the setting vembed.training.engine sets the default)',
    },
  );
  if (!pick) return undefined;
  if (pick.engine !== 'torch') return { engine: pick.engine };
  const numProcesses = await pickProcesses(settings.numProcesses);
  return numProcesses === undefined ? undefined : { engine: 'torch', numProcesses };
}
