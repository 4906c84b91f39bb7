/**
 * Which parameters AdamW's weight decay applies to, decided by tensor name
 * (Hugging Face / PEFT names, e.g. `encoder.layer.3.norm1.weight`).
 *
 * Excluded (no decay):
 * - biases: any name whose last part is `bias`;
 * - normalisation weights: any name with a part containing `norm`
 *   (`layernorm`, `norm1`, `norm2`, `LayerNorm`, `layer_norm`, `norm`) or a
 *   part named `ln`, `ln_1`, `ln_f`...;
 * - learned tokens and embeddings added to the input, which are offsets
 *   rather than maps, so shrinking them towards 0 is not a regulariser but a
 *   drift: `cls_token`, `mask_token`, `register_tokens`,
 *   `position_embeddings` (and timm's `pos_embed`, `reg_token`);
 * - LayerScale factors (`layer_scale1.lambda1`, original DINOv2 `ls1.gamma`):
 *   per-channel gains, decaying them would switch residual branches off.
 * Everything else decays: linear/conv weights, LoRA `lora_A` / `lora_B`, the
 * projection head.
 */

const EXCLUDED_LAST_PARTS = new Set([
  'bias',
  'cls_token',
  'mask_token',
  'register_tokens',
  'reg_token',
  'position_embeddings',
  'pos_embed',
  'lambda1',
  'gamma',
]);

function isNormPart(part: string): boolean {
  return /norm/i.test(part) || /^ln(_\w+|\d+)?$/i.test(part);
}

export function isExcludedFromWeightDecay(name: string): boolean {
  const parts = name.split('.');
  const last = parts[parts.length - 1]!;
  if (EXCLUDED_LAST_PARTS.has(last)) return true;
  return parts.slice(0, -1).some(isNormPart) || isNormPart(last);
}
