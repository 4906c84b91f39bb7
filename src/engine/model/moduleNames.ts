/**
 * DINOv2's module names under transformers 4.x and 5.x: the one table that
 * maps between them.
 *
 * The engine names its layers as transformers 4.x did, because those are the
 * tensor names of `model.safetensors` (transformers 5 still writes and reads
 * checkpoints with them). transformers 5 renamed the modules themselves, and
 * PEFT adapters name modules, not checkpoint tensors: an adapter made under
 * transformers 5 says `attention.q_proj` where one made under 4.x says
 * `attention.attention.query`. Checked against transformers 5.18's
 * `Dinov2Model.named_modules()` and `Dinov2WithRegistersModel`'s.
 */

/** Which transformers generation's module names an adapter file uses. */
export type AdapterLayout = 'transformers5' | 'transformers4';
export const DEFAULT_ADAPTER_LAYOUT: AdapterLayout = 'transformers5';

/**
 * Module path tails inside one encoder layer: 4.x name → 5.x name. Layers
 * whose names did not change (mlp.fc1, mlp.fc2) are not listed. SwiGLU's
 * fused `mlp.weights_in` became two layers (`gate_proj`, `up_proj`) in 5.x,
 * so it has no single 5.x name (see SPLIT_IN_TRANSFORMERS5).
 */
const LAYER_RENAMES: ReadonlyArray<readonly [string, string]> = [
  ['attention.attention.query', 'attention.q_proj'],
  ['attention.attention.key', 'attention.k_proj'],
  ['attention.attention.value', 'attention.v_proj'],
  ['attention.output.dense', 'attention.o_proj'],
  ['mlp.weights_out', 'mlp.down_proj'],
];

/** 4.x layers that transformers 5 split in two; an adapter on them cannot be written with 5.x names. */
const SPLIT_IN_TRANSFORMERS5: ReadonlyArray<readonly [string, string]> = [
  ['mlp.weights_in', 'mlp.gate_proj, mlp.up_proj'],
];

const LAYER_PREFIX = /^(encoder\.layer\.\d+\.)(.*)$/;

/** The 5.x module path of an engine (4.x) module path; null for a 4.x-only container or a split layer. */
export function toTransformers5Path(path4: string): string | null {
  const m = LAYER_PREFIX.exec(path4);
  if (!m) return path4;
  const [, prefix, tail] = m;
  for (const [old, renamed] of LAYER_RENAMES) if (tail === old) return prefix + renamed;
  // 4.x containers that 5.x dropped, and layers it split.
  if (tail === 'attention.attention' || tail === 'attention.output') return null;
  if (SPLIT_IN_TRANSFORMERS5.some(([old]) => tail === old)) return null;
  return path4;
}

/** The path of an engine module in a layout. */
export function pathInLayout(path4: string, layout: AdapterLayout): string {
  if (layout === 'transformers4') return path4;
  const p = toTransformers5Path(path4);
  if (p === null) {
    const split = SPLIT_IN_TRANSFORMERS5.find(([old]) => path4.endsWith(`.${old}`));
    throw new Error(
      split
        ? `\`${path4}\` (SwiGLU's fused input projection) is two layers in transformers 5 (${split[1]}), so a LoRA adapter on it cannot be written in the transformers5 layout; set adapter_layout: transformers4, or leave weights_in out of lora_target_modules`
        : `\`${path4}\` has no counterpart in transformers 5`,
    );
  }
  return p;
}

/** Every name a module answers to when matching LoRA targets: its 4.x path and, where it has one, its 5.x path. */
export function moduleAliases(path4: string): string[] {
  const p5 = toTransformers5Path(path4);
  return p5 === null || p5 === path4 ? [path4] : [path4, p5];
}

/** Short names of linear layers as both generations spell them, for messages. */
export const LINEAR_NAMES_TEXT =
  'transformers 4.x: query, key, value, dense (attention output), fc1, fc2 (weights_in, weights_out with SwiGLU); transformers 5.x: q_proj, k_proj, v_proj, o_proj, fc1, fc2 (down_proj with SwiGLU)';
