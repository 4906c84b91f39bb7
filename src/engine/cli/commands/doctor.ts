import { probeBackends } from '../../backend/ladder';
import type { Command } from '../command';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'List the compute backends, which one loads here, and why the others do not.',
  usage: '',
  description: 'Backends are tried best first: tfjs-node-gpu (CUDA), tfjs-node (native CPU), wasm, cpu (pure JavaScript). Training and evaluation use the first that loads.',
  options: [],
  async run({ reporter }) {
    const probes = await probeBackends();
    const chosen = probes.find((p) => p.ok);
    const lines = probes.map((p) => {
      const mark = p === chosen ? '*' : p.ok ? '+' : '-';
      const state = p.ok ? 'loads' : 'unavailable';
      const details = [p.reason, p.warning && `warning: ${p.warning}`, p.location && `(${p.location})`].filter(Boolean).join(' ');
      return `${mark} ${p.name.padEnd(14)} ${state}${details ? `: ${details}` : ''}`;
    });
    reporter.result(['Compute backends (best first):', ...lines, '', chosen ? `Runs will use: ${chosen.name}` : 'No backend loads: reinstall the package (npm install).'].join('\n'));
    if (reporter.json) {
      for (const p of probes) {
        const msg = `${p.name}: ${p.ok ? 'loads' : 'unavailable'}${p.reason ? ` (${p.reason})` : ''}${p.warning ? `; ${p.warning}` : ''}`;
        if (p.warning) reporter.warn(msg, 'backend-degraded');
        else reporter.info(msg);
      }
      reporter.info(`selected: ${chosen?.name ?? 'none'}`);
    }
    return chosen ? 0 : 1;
  },
};
