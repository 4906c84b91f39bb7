/**
 * A fingerprint of the settings that shape a training run, stored in every
 * checkpoint so that `--resume` can tell when the config changed underneath.
 */
import { createHash } from 'node:crypto';

/**
 * Keys that do not change what is computed (where files go, how often to
 * log or save, evaluation batch size, caching, validation data, the engine), so changing
 * them does not make a checkpoint "another run".
 */
export const KEYS_OUTSIDE_CONFIG_HASH: readonly string[] = [
  'output_dir',
  'logging_steps',
  'save_steps',
  'report_to',
  'num_workers',
  'eval_batch_size',
  'enable_image_cache',
  'val_data_path',
  // Which engine computes the same steps, and at what precision: like --backend, not another run (a run
  // started on one engine resumes on the other).
  'engine',
  'mixed_precision',
];

/** JSON with object keys sorted at every level, so equal configs hash equal. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** "sha256:<hex>" of the resolved config without {@link KEYS_OUTSIDE_CONFIG_HASH}. */
export function configHash(
  config: Readonly<Record<string, unknown>>,
  ignore: readonly string[] = KEYS_OUTSIDE_CONFIG_HASH,
): string {
  const kept = Object.fromEntries(Object.entries(config).filter(([k]) => !ignore.includes(k)));
  return 'sha256:' + createHash('sha256').update(canonicalJson(kept)).digest('hex');
}
