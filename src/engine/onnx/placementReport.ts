/**
 * The placement report of `vembed doctor --placement`: for a model, every
 * graph the engine builds (the forward graph and the training graphs of
 * LoRA with dropout and of full fine-tuning, placement.ts), and the copies
 * between host and device that one training step makes, counted while a
 * real step runs on the device (runtime.ts, onnxTransfers).
 */
import type { Dinov2ImageEncoder } from '../model/encoder';
import { AdamW } from '../train/optim/adamw';
import { trainStepParallel, type TrainStepConfig } from '../train/step';
import { Rng } from '../util/rng';
import { describeAdapter } from './adapter';
import { engineGraphs, formatPlacement, placeGraphs, type GraphPlacement, type PlacementResult } from './placement';
import { onnxTransfers, type OnnxDevice } from './runtime';
import { OnnxGradients } from './trainer';

export type TrainingMode = 'lora' | 'full';

export interface StepTransfers {
  mode: TrainingMode;
  pairs: number;
  chunk: number;
  /** Graph runs in the step. */
  runs: number;
  /** Tensors fed (host to device) and fetched (device to host): each a copy on a GPU provider. */
  tensorsIn: number;
  tensorsOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface PlacementReport extends PlacementResult {
  model: string;
  steps: StepTransfers[];
  /** Over all graphs: compute nodes on the CPU while a device was asked for, and copy nodes. */
  cpuFallbacks: number;
  copyNodes: number;
}

export interface PlacementOptions {
  device: OnnxDevice;
  threads: number;
  /** A step's pairs and gradient-cache chunk (two chunks per side by default: the cache's chaining shows). */
  pairs?: number;
  chunk?: number;
  env?: NodeJS.ProcessEnv;
}

/** One training step of random pixels on `device`; the tensors it moved. */
async function stepTransfers(
  encoder: Dinov2ImageEncoder,
  mode: TrainingMode,
  options: Required<Pick<PlacementOptions, 'device' | 'threads' | 'pairs' | 'chunk'>>,
): Promise<StepTransfers> {
  const size = encoder.processing.imageSize;
  const pixels = (seed: number) => {
    const rng = new Rng(seed);
    const data = new Float32Array(options.pairs * size * size * 3);
    for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-2, 2);
    return { data, n: options.pairs, height: size, width: size };
  };
  const config: TrainStepConfig = {
    loss_type: 'infonce',
    temperature: 0.05,
    triplet_margin: 0.2,
    max_grad_norm: 1.0,
    use_gradient_cache: true,
    gradient_cache_chunk_size: options.chunk,
    seed: 42,
  };
  const onnx = await OnnxGradients.create(encoder, { device: options.device, threads: options.threads });
  const optimizer = new AdamW(encoder.trainableVariables(), { weightDecay: 0.01 });
  try {
    const batch = {
      queries: pixels(1),
      positives: pixels(2),
      labels: Array.from({ length: options.pairs }, (_, i) => i),
    };
    const before = { ...onnxTransfers };
    await trainStepParallel({ encoder, optimizer, schedule: () => 1e-4, config, batch, globalStep: 0 }, onnx);
    return {
      mode,
      pairs: options.pairs,
      chunk: options.chunk,
      runs: onnxTransfers.runs - before.runs,
      tensorsIn: onnxTransfers.tensorsIn - before.tensorsIn,
      tensorsOut: onnxTransfers.tensorsOut - before.tensorsOut,
      bytesIn: onnxTransfers.bytesIn - before.bytesIn,
      bytesOut: onnxTransfers.bytesOut - before.bytesOut,
    };
  } finally {
    optimizer.dispose();
    await onnx.close();
  }
}

/**
 * The report for the encoders `load` gives (set to train LoRA with dropout,
 * or every weight): where each graph's nodes went, and one step's copies.
 * The encoders are disposed here.
 */
export async function placementReport(
  model: string,
  load: (mode: TrainingMode) => Promise<Dinov2ImageEncoder>,
  options: PlacementOptions,
): Promise<PlacementReport> {
  const pairs = options.pairs ?? 4;
  const chunk = options.chunk ?? 2;
  const lora = await load('lora');
  const full = await load('full');
  try {
    // The forward graph merges LoRA: one copy of it (from the LoRA encoder) stands for both.
    const graphs = [...engineGraphs(lora), ...engineGraphs(full).slice(1)];
    const placed = await placeGraphs(graphs, options.device, { env: options.env });
    const settings = { device: options.device, threads: options.threads, pairs, chunk };
    const steps = [await stepTransfers(lora, 'lora', settings), await stepTransfers(full, 'full', settings)];
    return {
      ...placed,
      model,
      steps,
      cpuFallbacks: placed.graphs.reduce((n, g) => n + g.cpuFallbacks.length, 0),
      copyNodes: placed.graphs.reduce((n, g) => n + g.copyNodes, 0),
    };
  } finally {
    lora.dispose();
    full.dispose();
  }
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

/** The report as text. */
export function formatPlacementReport(r: PlacementReport): string[] {
  const onDevice = (g: GraphPlacement) => (r.device === 'cpu' ? 0 : g.computeNodes - g.cpuFallbacks.length);
  const compute = r.graphs.reduce((n, g) => n + g.computeNodes, 0);
  const lines = [
    `Placement on ONNX Runtime's ${r.device} provider${r.adapter ? ` (${describeAdapter(r.adapter)})` : ''}, model ${r.model}:`,
    ...formatPlacement(r),
    r.device === 'cpu'
      ? `${compute} compute nodes, all on the CPU provider (asked for).`
      : `Compute nodes on ${r.device}: ${r.graphs.reduce((n, g) => n + onDevice(g), 0)} of ${compute} (${compute ? ((100 * r.graphs.reduce((n, g) => n + onDevice(g), 0)) / compute).toFixed(1) : '100.0'}%); CPU fallbacks: ${r.cpuFallbacks}; copy nodes: ${r.copyNodes}.`,
  ];
  for (const s of r.steps) {
    const extra = r.copyNodes ? ' (plus the copy nodes above, each run of their graph)' : '';
    const what =
      r.device === 'cpu'
        ? 'tensors handed to and from ONNX Runtime (no copies on the CPU provider)'
        : `copies between host and device${extra}`;
    lines.push(
      `One ${s.mode === 'lora' ? 'LoRA' : 'full fine-tuning'} training step (${s.pairs} pairs, chunks of ${s.chunk}): ${s.runs} graph runs, ${s.tensorsIn + s.tensorsOut} ${what}: ${s.tensorsIn} in (${MiB(s.bytesIn)}), ${s.tensorsOut} out (${MiB(s.bytesOut)}).`,
    );
  }
  return lines;
}
