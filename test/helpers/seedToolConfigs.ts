// Configs in the shape of vembed-factory's (the Python tool vembed replaces): its keys and values, written here.

/** vembed-factory's DINOv2 image-to-image example, key for key. */
export const SEED_DINOV2_I2I = [
  'model_name: facebook/dinov2-base',
  'encoder_mode: dino',
  'retrieval_mode: "i2i"',
  'use_lora: true',
  'loss_type: infonce',
  'use_gradient_cache: true',
  'gradient_cache_chunk_size: 128',
  'output_dir: experiments/output_sop_dinov2_i2i',
  'epochs: 1',
  'batch_size: 1024',
  'eval_batch_size: 64',
  'learning_rate: 1.0e-04',
  'data_path: data/stanford_online_products/train.jsonl',
  'val_data_path: data/stanford_online_products/val.jsonl',
  'image_root: data/stanford_online_products',
  'report_to: none',
  'logging_steps: 10',
  'save_steps: 1000',
  'validate_data: false',
  'num_workers: 4',
  'pin_memory: true',
  'prefetch_factor: 2',
  'persistent_workers: true',
  'enable_image_cache: false',
].join('\n');
