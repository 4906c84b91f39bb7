/**
 * LoRA as PEFT does it, and PEFT's adapter files.
 *
 * A linear layer y = x Wᵀ + b with an adapter becomes
 *   y = x Wᵀ + b + scale · B (A (dropout(x))),   scale = alpha / r
 * (alpha / sqrt(r) with rsLoRA), A: [r, in], B: [out, r] in PEFT's layout.
 * A starts as PyTorch's default Linear init (kaiming-uniform, a = sqrt(5),
 * i.e. U(-1/sqrt(in), 1/sqrt(in))), B at zero, so a fresh adapter leaves the
 * model unchanged. Here A and B are stored transposed ([in, r], [r, out]) so
 * the forward is two plain matMuls.
 *
 * Target modules follow PEFT: a list of names matches a module whose path
 * equals a name or ends with "." + name; a single string is a regular
 * expression that must match the whole path; "all-linear" takes every
 * linear layer.
 *
 * Follows PEFT's `LoraConfig` and `PeftModel.save_pretrained` (huggingface/peft,
 * src/peft/tuners/lora); only the plain LoRA forward is implemented.
 */
import { Rng } from '../util/rng';
import { LINEAR_NAMES_TEXT, moduleAliases, pathInLayout, type AdapterLayout } from './moduleNames';

export interface LoraSettings {
  r: number;
  alpha: number;
  dropout: number;
  /** null: DINOv2's attention query/key/value and attention output dense. */
  targetModules: string[] | string | null;
  /** Scale by alpha / sqrt(r) instead of alpha / r (PEFT `use_rslora`). */
  useRslora?: boolean;
}

/** What `lora_target_modules: null` means: attention query/key/value and the attention output projection. */
export const DEFAULT_LORA_TARGETS: readonly string[] = ['query', 'key', 'value', 'dense'];

export class LoraError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraError';
  }
}

export function loraScale(s: LoraSettings): number {
  return s.useRslora ? s.alpha / Math.sqrt(s.r) : s.alpha / s.r;
}

export function validateLoraSettings(s: LoraSettings, where: string): void {
  if (!Number.isInteger(s.r) || s.r < 1)
    throw new LoraError(`${where}: LoRA rank r must be a positive integer, got ${s.r}`);
  if (!(typeof s.alpha === 'number' && s.alpha > 0))
    throw new LoraError(`${where}: lora_alpha must be a positive number, got ${s.alpha}`);
  if (!(typeof s.dropout === 'number' && s.dropout >= 0 && s.dropout < 1))
    throw new LoraError(`${where}: lora_dropout must be in [0, 1), got ${s.dropout}`);
  if (Array.isArray(s.targetModules) && s.targetModules.length === 0)
    throw new LoraError(
      `${where}: lora_target_modules is an empty list; give at least one module name or null for the default`,
    );
}

/** Whether PEFT would put an adapter on the module at `path` (one spelling of its name). */
function matchesName(path: string, targets: readonly string[] | string): boolean {
  if (typeof targets === 'string') {
    if (targets === 'all-linear') return true;
    return new RegExp(`^(?:${targets})$`).test(path);
  }
  return targets.some((name) => path === name || path.endsWith(`.${name}`));
}

/**
 * Whether PEFT would put an adapter on the engine module at `path`, under
 * either transformers generation's names: targets written for 4.x (`query`)
 * and for 5.x (`q_proj`) both select the layer (moduleNames.ts).
 */
export function matchesTarget(path: string, targets: string[] | string | null): boolean {
  const t = targets ?? DEFAULT_LORA_TARGETS;
  return moduleAliases(path).some((alias) => matchesName(alias, t));
}

/**
 * Choose the modules that get adapters. `modules` lists every module path of
 * the model (containers included, as PyTorch's named_modules does) with
 * whether it is a linear layer; matching anything else is an error, as in
 * PEFT, and so is matching nothing.
 */
export function selectLoraModules(
  modules: ReadonlyArray<{ path: string; linear: boolean }>,
  targets: string[] | string | null,
): string[] {
  const chosen: string[] = [];
  for (const m of modules) {
    const hit = targets === 'all-linear' ? m.linear : matchesTarget(m.path, targets);
    if (!hit) continue;
    if (!m.linear) {
      throw new LoraError(
        `LoRA target ${JSON.stringify(targets)} matches \`${m.path}\`, which is not a linear layer; adapters go on linear layers only (${LINEAR_NAMES_TEXT})`,
      );
    }
    chosen.push(m.path);
  }
  if (chosen.length === 0) {
    throw new LoraError(
      `LoRA target modules ${JSON.stringify(targets ?? DEFAULT_LORA_TARGETS)} match no linear layer of this model; DINOv2's are named as in ${LINEAR_NAMES_TEXT}`,
    );
  }
  return chosen;
}

/**
 * A fresh A in PEFT's layout [r, in]: kaiming-uniform with a = sqrt(5), which
 * is U(-1/sqrt(in), 1/sqrt(in)).
 */
export function initLoraA(r: number, inFeatures: number, rng: Rng): Float32Array {
  const bound = 1 / Math.sqrt(inFeatures);
  const out = new Float32Array(r * inFeatures);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

// ------------------------------------------------------------------ PEFT files

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Key of a tensor in adapter_model.safetensors for an engine module, with the module named as `layout` names it. */
export function peftKey(modulePath: string, which: 'A' | 'B', layout: AdapterLayout = 'transformers4'): string {
  return `base_model.model.${pathInLayout(modulePath, layout)}.lora_${which}.weight`;
}

/**
 * `target_modules` to write for the adapted engine modules `chosen`, named
 * as `layout` names them: the short names (`q_proj`, ...) when they select
 * exactly those modules among `allLinear`, otherwise the full module paths
 * (PEFT matches a full path too). Derived from the chosen modules rather than
 * copied from the settings, so a config written with the other generation's
 * names (or a regular expression over them) still gives a file whose names
 * exist in the base model PEFT loads it on.
 */
export function targetModulesForLayout(
  chosen: readonly string[],
  allLinear: readonly string[],
  layout: AdapterLayout,
): string[] {
  const inLayout = (p: string) => pathInLayout(p, layout);
  const wanted = new Set(chosen.map(inLayout));
  const leaves = [...new Set([...wanted].map((p) => p.slice(p.lastIndexOf('.') + 1)))].sort();
  const selectedByLeaves = allLinear
    .map(inLayoutOrNull(layout))
    .filter((p): p is string => p !== null && matchesName(p, leaves));
  const exact = selectedByLeaves.length === wanted.size && selectedByLeaves.every((p) => wanted.has(p));
  return exact ? leaves : [...wanted].sort();
}

function inLayoutOrNull(layout: AdapterLayout): (p: string) => string | null {
  return (p) => {
    try {
      return pathInLayout(p, layout);
    } catch {
      return null;
    }
  };
}

/** Name of an adapter variable in `trainableVariables()`. */
export function loraVariableName(modulePath: string, which: 'A' | 'B'): string {
  return `${modulePath}.lora_${which}.weight`;
}

export interface AdapterConfig {
  settings: LoraSettings;
  baseModelNameOrPath: string | null;
  raw: Record<string, unknown>;
}

/** Parse adapter_config.json; refuse options that would change the forward pass in ways not implemented. */
export function parseAdapterConfig(json: Record<string, unknown>, source: string): AdapterConfig {
  const fail: (msg: string) => never = (msg) => {
    throw new LoraError(`${source}: ${msg}`);
  };
  if (json.peft_type !== 'LORA')
    fail(`peft_type is ${JSON.stringify(json.peft_type)}; only "LORA" adapters can be loaded`);
  const r = json.r;
  const alpha = json.lora_alpha ?? 8;
  const dropout = json.lora_dropout ?? 0;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1)
    fail(`\`r\` must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !(alpha > 0))
    fail(`\`lora_alpha\` must be a positive number, got ${JSON.stringify(alpha)}`);
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    fail(`\`lora_dropout\` must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const targets = json.target_modules;
  let targetModules: string[] | string;
  if (typeof targets === 'string') targetModules = targets;
  else if (Array.isArray(targets) && targets.length > 0 && targets.every((t) => typeof t === 'string'))
    targetModules = targets as string[];
  else
    targetModules = fail(
      `\`target_modules\` must be a list of module names or a regular expression, got ${JSON.stringify(targets)}`,
    );

  const unsupported: Array<[string, (v: unknown) => boolean, string]> = [
    ['bias', (v) => v !== undefined && v !== 'none', 'trained biases ("bias" other than "none")'],
    ['use_dora', (v) => v === true, 'DoRA'],
    ['fan_in_fan_out', (v) => v === true, 'fan_in_fan_out (GPT-2 Conv1D layers)'],
    ['modules_to_save', (v) => Array.isArray(v) && v.length > 0, 'modules_to_save'],
    [
      'rank_pattern',
      (v) => !!v && typeof v === 'object' && Object.keys(v).length > 0,
      'per-module ranks (rank_pattern)',
    ],
    [
      'alpha_pattern',
      (v) => !!v && typeof v === 'object' && Object.keys(v).length > 0,
      'per-module alphas (alpha_pattern)',
    ],
    ['layers_to_transform', (v) => v !== undefined && v !== null, 'layers_to_transform'],
    ['lora_bias', (v) => v === true, 'lora_bias'],
    [
      'exclude_modules',
      (v) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0),
      'exclude_modules',
    ],
  ];
  for (const [key, bad, what] of unsupported) {
    if (bad(json[key]))
      fail(`uses ${what} (\`${key}\`: ${JSON.stringify(json[key])}), which this engine does not implement`);
  }
  const base = json.base_model_name_or_path;
  return {
    settings: { r, alpha, dropout, targetModules, useRslora: json.use_rslora === true },
    baseModelNameOrPath: typeof base === 'string' && base !== '' ? base : null,
    raw: json,
  };
}

/**
 * adapter_config.json as PEFT's `save_pretrained` writes it for a plain
 * `Dinov2Model` (task_type null, so PEFT records the base class in
 * auto_mapping). Only fields that every peft release since 0.10 knows are
 * written: older releases reject keys they do not know, newer ones default the
 * fields left out.
 */
export function adapterConfigJson(
  settings: LoraSettings,
  targetModules: string[],
  baseModelNameOrPath: string | null,
  baseModelClass: string,
): Record<string, unknown> {
  const moduleFile =
    baseModelClass === 'Dinov2WithRegistersModel'
      ? 'dinov2_with_registers.modeling_dinov2_with_registers'
      : 'dinov2.modeling_dinov2';
  return {
    alpha_pattern: {},
    auto_mapping: { base_model_class: baseModelClass, parent_library: `transformers.models.${moduleFile}` },
    base_model_name_or_path: baseModelNameOrPath,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: settings.alpha,
    lora_dropout: settings.dropout,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: settings.r,
    rank_pattern: {},
    revision: null,
    target_modules: targetModules,
    task_type: null,
    use_dora: false,
    use_rslora: settings.useRslora === true,
  };
}
