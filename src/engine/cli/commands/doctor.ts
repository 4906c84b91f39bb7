import { probeBackends } from '../../backend/ladder';
import { loadImageEncoder } from '../../model';
import type { Dinov2ImageEncoder } from '../../model/encoder';
import { randomDinov2Encoder } from '../../model/random';
import { describeAdapter } from '../../onnx/adapter';
import { workPlan } from '../../onnx/backendChoice';
import { formatPlacementReport, placementReport, type TrainingMode } from '../../onnx/placementReport';
import { probeOnnxProviders, type OnnxProviderProbe } from '../../onnx/probe';
import { writeJsonAtomic } from '../../../shared/fs/atomic';
import type { Command } from '../command';
import { backendFromOptions, COMPUTE_OPTIONS, type CommandBackend } from './backendOption';
import { TORCH_DOCTOR_OPTIONS, torchDoctorReport } from './doctorTorch';

/** LoRA as the placement report trains it: every linear layer, so every graph shape an adapter makes appears. */
const PLACEMENT_LORA = { r: 4, alpha: 8, dropout: 0.05, targetModules: 'all-linear' } as const;

/** The placement report's model: `--model` (a folder), else a small random DINOv2 (the ops do not depend on size). */
function placementModel(model: unknown): { name: string; load: (mode: TrainingMode) => Promise<Dinov2ImageEncoder> } {
  if (typeof model === 'string')
    return {
      name: model,
      load: (mode) =>
        loadImageEncoder(model, {
          finetune: mode === 'lora' ? { kind: 'lora', settings: { ...PLACEMENT_LORA } } : { kind: 'full' },
          seed: 1,
        }),
    };
  return {
    name: 'a random DINOv2 (hidden 64, 2 layers, 56 px)',
    load: async (mode) => {
      const e = randomDinov2Encoder(
        { hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4 },
        { seed: 1, imageSize: 56 },
      );
      if (mode === 'lora') e.addLora({ ...PLACEMENT_LORA });
      e.setTrainable(mode);
      return e;
    },
  };
}

function providerLine(p: OnnxProviderProbe): string {
  const state = p.ok ? 'loads' : `unavailable: ${p.reason ?? ''}`;
  const adapter =
    p.ok && p.device === 'webgpu'
      ? `: ${describeAdapter(p.adapter)}${p.adapter?.software ? ' (for testing; auto never picks it)' : ''}`
      : '';
  return `${p.ok ? '+' : '-'} onnx-${p.device.padEnd(9)} ${state}${adapter}`;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'List the compute backends, which one loads here, and why the others do not.',
  usage: '[--backend NAME] [--placement [--model M] [--placement_out FILE]] [--python PATH] [--engine auto|onnx|torch]',
  description:
    'Backends are tried best first: tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm, cpu (pure JavaScript). ONNX Runtime (onnxruntime-node) runs embedding, evaluation, search and the gradients of training where it loads; its execution providers are listed too (--backend onnx-cpu, onnx-webgpu, onnx-cuda, onnx-dml), WebGPU with the adapter it gets. The summary is what the commands choose with the same --backend / VEMBED_BACKEND. --placement builds every graph the engine runs (forward, and training with LoRA and full fine-tuning) for --model (a model folder; default a small random DINOv2), makes ONNX Runtime sessions on the chosen provider and reports how many nodes each provider got, compute nodes that fell back to the CPU, and the copies between host and device that one training step makes; --placement_out writes it as JSON. The PyTorch engine section shows the Python that `vembed train --engine torch` would run (--python), its libraries, devices and distributed backends, what to install, and which engine training takes with --engine (default auto) and why.',
  options: [
    ...COMPUTE_OPTIONS,
    {
      name: 'placement',
      type: 'boolean',
      description: 'Report where ONNX Runtime puts the nodes of every graph the engine builds.',
    },
    {
      name: 'model',
      type: 'string',
      metavar: 'M',
      description: 'The model folder of --placement (default: a small random DINOv2).',
    },
    { name: 'placement_out', type: 'string', metavar: 'FILE', description: 'Also write the placement report as JSON.' },
    ...TORCH_DOCTOR_OPTIONS,
  ],
  async run({ args, reporter }) {
    const options = args.options;
    // Started first: the Python probe runs while the synchronous backend probes below do.
    const torchReport = torchDoctorReport(options);
    const probes = await probeBackends();
    const loads = probes.some((p) => p.ok);
    const ort = probeOnnxProviders();
    const ortLines = ort.error ? [`- onnxruntime-node unavailable: ${ort.error}`] : ort.providers.map(providerLine);

    // The summary is the choice every computing command makes (backendOption.ts), not a reading of the probes.
    let backend: CommandBackend | null = null;
    let failure: string | null = null;
    try {
      backend = loads ? await backendFromOptions(options, reporter) : null;
    } catch (e) {
      failure = `The backend asked for does not run here: ${(e as Error).message}`;
    }
    const plan = backend && workPlan(backend.name, backend.onnx);
    const summary =
      failure ??
      (plan
        ? `Training will use: ${plan.training}; embedding, evaluation and search: ${plan.inference} (${backend!.onnx?.line ?? backend!.device})`
        : 'No backend loads: reinstall the package (npm install).');
    const lines = probes.map((p) => {
      const state = p.ok ? 'loads' : 'unavailable';
      const details = [p.reason, p.warning && `warning: ${p.warning}`, p.location && `(${p.location})`]
        .filter(Boolean)
        .join(' ');
      return `${p.name === backend?.name ? '*' : p.ok ? '+' : '-'} ${p.name.padEnd(14)} ${state}${details ? `: ${details}` : ''}`;
    });
    const torch = await torchReport;
    reporter.result(
      [
        'Compute backends (best first):',
        ...lines,
        '',
        `ONNX Runtime${ort.version ? ` ${ort.version}` : ''} execution providers${ort.location ? ` (${ort.location})` : ''}:`,
        ...ortLines,
        '',
        summary,
        '',
        ...torch.lines,
        '',
        torch.engineLine,
      ].join('\n'),
    );
    if (reporter.json) {
      for (const p of probes) {
        const msg = `${p.name}: ${p.ok ? 'loads' : 'unavailable'}${p.reason ? ` (${p.reason})` : ''}${p.warning ? `; ${p.warning}` : ''}`;
        if (p.warning) reporter.warn(msg, 'backend-degraded');
        else reporter.info(msg);
      }
      for (const p of ort.providers) reporter.info(providerLine(p).slice(2).replace(/\s+/, ': '));
      if (ort.error) reporter.info(`onnxruntime-node: unavailable (${ort.error})`);
      reporter.info(
        `selected: ${plan ? `${plan.training} for training, ${plan.inference} for embedding, evaluation and search` : 'none'}`,
      );
      for (const line of torch.lines.slice(1)) reporter.info(`torch: ${line.trim()}`);
      reporter.info(torch.engineLine);
    }
    if (!backend) return 1;
    if (options.placement !== true) return torch.ok ? 0 : 1;

    const device = backend.onnx?.device;
    if (!device) {
      reporter.result('--placement: the choice is TF.js, not ONNX Runtime; pick a provider with --backend onnx-…');
      return 1;
    }
    const model = placementModel(options.model);
    const report = await placementReport(model.name, model.load, { device, threads: backend.onnx!.threads });
    reporter.result(['', ...formatPlacementReport(report)].join('\n'));
    if (typeof options.placement_out === 'string') writeJsonAtomic(options.placement_out, report);
    return torch.ok ? 0 : 1;
  },
};
