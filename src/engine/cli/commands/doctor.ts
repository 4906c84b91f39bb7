import { probeBackends } from '../../backend/ladder';
import { probeOnnxProviders } from '../../onnx/probe';
import type { Command } from '../command';
import { TORCH_DOCTOR_OPTIONS, torchDoctorReport } from './doctorTorch';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'List the compute backends, which one loads here, and why the others do not.',
  usage: '[--python PATH] [--engine auto|onnx|torch]',
  description:
    'Backends are tried best first: tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm, cpu (pure JavaScript); training uses the first that loads. Embedding, evaluation and search use ONNX Runtime (onnxruntime-node) where it loads; its execution providers are listed too (--backend onnx-cpu, onnx-webgpu, onnx-cuda, onnx-dml). The PyTorch engine section shows the Python that `vembed train --engine torch` would run (--python), its libraries, devices and distributed backends, what to install, and which engine training takes with --engine (default auto) and why.',
  options: [...TORCH_DOCTOR_OPTIONS],
  async run({ args, reporter }) {
    // Started first: the Python probe runs while the synchronous backend probes below do.
    const torchReport = torchDoctorReport(args.options);
    const probes = await probeBackends();
    const chosen = probes.find((p) => p.ok);
    const lines = probes.map((p) => {
      const mark = p === chosen ? '*' : p.ok ? '+' : '-';
      const state = p.ok ? 'loads' : 'unavailable';
      const details = [p.reason, p.warning && `warning: ${p.warning}`, p.location && `(${p.location})`]
        .filter(Boolean)
        .join(' ');
      return `${mark} ${p.name.padEnd(14)} ${state}${details ? `: ${details}` : ''}`;
    });
    const ort = probeOnnxProviders();
    const ortLines = ort.error
      ? [`- onnxruntime-node unavailable: ${ort.error}`]
      : ort.providers.map(
          (p) => `${p.ok ? '+' : '-'} onnx-${p.device.padEnd(9)} ${p.ok ? 'loads' : `unavailable: ${p.reason ?? ''}`}`,
        );
    const inference =
      ort.providers.some((p) => p.device === 'cpu' && p.ok) && chosen?.name !== 'tfjs-node-gpu'
        ? 'onnx-cpu'
        : chosen?.name;
    const torch = await torchReport;
    reporter.result(
      [
        'Compute backends (best first):',
        ...lines,
        '',
        `ONNX Runtime${ort.version ? ` ${ort.version}` : ''} execution providers${ort.location ? ` (${ort.location})` : ''}:`,
        ...ortLines,
        '',
        chosen
          ? `Training will use: ${chosen.name}; embedding, evaluation and search: ${inference}`
          : 'No backend loads: reinstall the package (npm install).',
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
      for (const p of ort.providers)
        reporter.info(`onnx-${p.device}: ${p.ok ? 'loads' : `unavailable (${p.reason ?? ''})`}`);
      if (ort.error) reporter.info(`onnxruntime-node: unavailable (${ort.error})`);
      reporter.info(
        `selected: ${chosen ? `${chosen.name} for training, ${inference} for embedding, evaluation and search` : 'none'}`,
      );
    }
    if (reporter.json) {
      for (const line of torch.lines.slice(1)) reporter.info(`torch: ${line.trim()}`);
      reporter.info(torch.engineLine);
    }
    return chosen && torch.ok ? 0 : 1;
  },
};
