import { probeBackends } from '../../backend/ladder';
import { probeOnnxProviders } from '../../onnx/probe';
import type { Command } from '../command';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'List the compute backends, which one loads here, and why the others do not.',
  usage: '',
  description:
    'Backends are tried best first: tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm, cpu (pure JavaScript); training uses the first that loads. Embedding, evaluation and search use ONNX Runtime (onnxruntime-node) where it loads; its execution providers are listed too (--backend onnx-cpu, onnx-webgpu, onnx-cuda, onnx-dml).',
  options: [],
  async run({ reporter }) {
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
    return chosen ? 0 : 1;
  },
};
