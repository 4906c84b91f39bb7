/** The `--backend` option of every command that computes, and its activation. */
import { activateBackend, parseBackendPreference, type ActiveBackend } from '../../backend/ladder';
import { UsageError, type OptionSpec } from '../args';
import type { Reporter } from '../reporter';

export const BACKEND_OPTION: OptionSpec = {
  name: 'backend',
  type: 'string',
  metavar: 'NAME',
  description: 'Compute backend: auto (best available), tfjs-node-gpu, tfjs-node, wasm or cpu. Also VEMBED_BACKEND.',
};

/** Activate the backend asked for (flag, then VEMBED_BACKEND, then auto) and say which one runs. */
export async function backendFromOptions(value: unknown, reporter: Reporter): Promise<ActiveBackend> {
  const raw = typeof value === 'string' ? value : process.env.VEMBED_BACKEND;
  const pref = parseBackendPreference(raw);
  if (!pref) throw new UsageError(`--backend ${raw}: expected auto, tfjs-node-gpu, tfjs-node, wasm or cpu.`);
  const backend = await activateBackend(pref);
  for (const s of backend.skipped) if (pref === 'auto' && s.reason && !/not installed/.test(s.reason)) reporter.warn(`backend ${s.name} skipped: ${s.reason}`, 'backend-skipped');
  return backend;
}
