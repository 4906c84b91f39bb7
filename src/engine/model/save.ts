/**
 * Save an encoder so that Python loads it:
 * - a full model in the Hugging Face layout (`config.json`,
 *   `model.safetensors`, `preprocessor_config.json`), which
 *   `Dinov2Model.from_pretrained(dir)` reads; attached LoRA adapters are
 *   folded into the weights;
 * - a LoRA adapter in PEFT's layout (`adapter_config.json`,
 *   `adapter_model.safetensors`), which `PeftModel.from_pretrained(base, dir)`
 *   reads.
 * Both add the embedding head files (head.ts). Each file is written
 * atomically; the functions are synchronous, so a caller can fill a temporary
 * folder and rename it (`writeDirAtomic`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors';
import { writeFileAtomic, writeJsonAtomic } from '../../shared/fs/atomic';
import { configJsonText, imageProcessingJson } from './config';
import type { Dinov2ImageEncoder } from './encoder';
import { writeEmbeddingHead } from './head';
import { MODEL_WEIGHTS_FILE } from './load';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, adapterConfigJson, peftKey, targetModulesForLayout } from './lora';
import { DEFAULT_ADAPTER_LAYOUT, type AdapterLayout } from './moduleNames';

/** transformers checks this metadata before loading a safetensors checkpoint. */
const PT_METADATA = { format: 'pt' };

function modelClass(encoder: Dinov2ImageEncoder): string {
  return encoder.config.modelType === 'dinov2_with_registers' ? 'Dinov2WithRegistersModel' : 'Dinov2Model';
}

function refuseMixedFolder(dir: string, kind: 'model' | 'adapter'): void {
  const clash = kind === 'model' ? ADAPTER_CONFIG_FILE : 'config.json';
  if (fs.existsSync(path.join(dir, clash))) {
    throw new Error(
      `${dir} already holds ${clash} (a ${kind === 'model' ? 'LoRA adapter' : 'full model'}); save the ${kind} into an empty or ${kind} folder`,
    );
  }
}

function writePreprocessor(dir: string, encoder: Dinov2ImageEncoder): void {
  writeJsonAtomic(
    path.join(dir, 'preprocessor_config.json'),
    imageProcessingJson(encoder.processing, encoder.preprocessorRaw),
  );
}

/** Write the whole model (adapters merged in) in the Hugging Face layout. */
export function saveFullModel(encoder: Dinov2ImageEncoder, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  refuseMixedFolder(dir, 'model');
  writeSafetensors(path.join(dir, MODEL_WEIGHTS_FILE), encoder.hfTensors(), PT_METADATA);
  const config = {
    ...encoder.config.raw,
    architectures: [modelClass(encoder)],
    model_type: encoder.config.modelType,
    torch_dtype: 'float32',
  };
  writeFileAtomic(path.join(dir, 'config.json'), configJsonText(config));
  writePreprocessor(dir, encoder);
  writeEmbeddingHead(dir, encoder);
}

/**
 * adapter_config.json's `target_modules` for the encoder's adapters in a
 * layout; throws when an adapted layer has no name there (SwiGLU's fused
 * weights_in under transformers5), so a training run can check it up front.
 */
export function adapterTargetModules(encoder: Dinov2ImageEncoder, layout: AdapterLayout): string[] {
  return targetModulesForLayout(
    encoder.loraModules(),
    encoder
      .modulePaths()
      .filter((m) => m.linear)
      .map((m) => m.path),
    layout,
  );
}

/**
 * Write the LoRA adapters in PEFT's layout. `baseModelNameOrPath` (default:
 * what the base was loaded as) is what Python will load under the adapter.
 * `layout` (default transformers5) picks the module names in the file: PEFT
 * finds an adapter's modules by name, so a file loads only under the
 * transformers generation whose names it uses (moduleNames.ts).
 */
export function saveAdapter(
  encoder: Dinov2ImageEncoder,
  dir: string,
  options: { baseModelNameOrPath?: string; layout?: AdapterLayout } = {},
): void {
  const layout = options.layout ?? DEFAULT_ADAPTER_LAYOUT;
  const settings = encoder.loraSettings;
  if (!settings)
    throw new Error(
      'this encoder has no LoRA adapters to save (merged or never added); save it as a full model instead',
    );
  // Names first: a layer with no name in this layout fails before anything is written.
  const targetModules = adapterTargetModules(encoder, layout);
  fs.mkdirSync(dir, { recursive: true });
  refuseMixedFolder(dir, 'adapter');
  const tensors = new Map<string, TensorToWrite>();
  for (const [modulePath, { a, b }] of encoder.loraTensors()) {
    tensors.set(peftKey(modulePath, 'A', layout), a);
    tensors.set(peftKey(modulePath, 'B', layout), b);
  }
  writeSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, PT_METADATA);
  writeJsonAtomic(
    path.join(dir, ADAPTER_CONFIG_FILE),
    adapterConfigJson(settings, targetModules, options.baseModelNameOrPath ?? encoder.nameOrPath, modelClass(encoder)),
  );
  writePreprocessor(dir, encoder);
  writeEmbeddingHead(dir, encoder);
}
