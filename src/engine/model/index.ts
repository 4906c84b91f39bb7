/**
 * The model package's public surface: load a DINOv2 encoder (full model or
 * PEFT adapter), train it (full or LoRA), save it back in Python's layouts.
 */
export {
  DINOV2_PROCESSING,
  ModelConfigError,
  mlpHiddenSize,
  parseDinov2Config,
  parseImageProcessing,
  readDinov2Config,
  readImageProcessing,
  type Dinov2Config,
  type Dinov2ModelType,
} from './config';
export type { PoolingMethod } from './dinov2';
export { Dinov2ImageEncoder, PROJECTION_WEIGHT, type TrainableSet } from './encoder';
export { HEAD_CONFIG_FILE, HEAD_WEIGHTS_FILE } from './head';
export {
  isAdapterFolder,
  loadImageEncoder,
  MODEL_WEIGHTS_FILE,
  type FinetuneMode,
  type LoadImageEncoderOptions,
} from './load';
export { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, DEFAULT_LORA_TARGETS, LoraError, type LoraSettings } from './lora';
export { adapterTargetModules, saveAdapter, saveFullModel } from './save';
export { DEFAULT_ADAPTER_LAYOUT, type AdapterLayout } from './moduleNames';
export type { ImageEncoder, ImageProcessing, PixelBatch } from './types';
