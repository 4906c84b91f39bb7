/**
 * Starting configs for "vembed: New Training Config": commented YAML that the
 * validator accepts as it is (test/shared/config-templates.test.ts). Values
 * are the schema's keys only; paths are written with forward slashes and,
 * when relative, are resolved against the workspace folder as every config is.
 */

export type ConfigTemplateId = 'dinov2-small-sop' | 'dinov2-base-sop' | 'sample' | 'prepared';

export interface ConfigTemplate {
  id: ConfigTemplateId;
  label: string;
  detail: string;
  /** The file name offered when saving it. */
  fileName: string;
}

export const CONFIG_TEMPLATES: readonly ConfigTemplate[] = [
  {
    id: 'dinov2-small-sop',
    label: 'DINOv2-small on Stanford Online Products',
    detail: 'LoRA on facebook/dinov2-small (22 M parameters); data from `vembed prepare-sop`',
    fileName: 'dinov2_small_sop_i2i.yaml',
  },
  {
    id: 'dinov2-base-sop',
    label: 'DINOv2-base on Stanford Online Products',
    detail: "LoRA on facebook/dinov2-base (86 M parameters): the reference workflow's model",
    fileName: 'dinov2_base_sop_i2i.yaml',
  },
  {
    id: 'sample',
    label: 'The built-in sample set',
    detail: 'data/sample-sop (vembed: Get Sample Data); a few minutes on a laptop CPU',
    fileName: 'sample_i2i.yaml',
  },
  {
    id: 'prepared',
    label: 'Your prepared data',
    detail: 'train.jsonl and val.jsonl from vembed: Prepare Data... (folders or CSV)',
    fileName: 'my_data_i2i.yaml',
  },
];

export interface TemplateInputs {
  /** `prepared`: the folder holding train.jsonl and val.jsonl. */
  dataDir?: string;
  /** `prepared`: what the listed image paths are relative to (default: dataDir). */
  imageRoot?: string;
  /** `sample`: a local starting model (the extension's bundled tiny model); default facebook/dinov2-small. */
  sampleModel?: string;
  /** Where the run writes; default per template. */
  outputDir?: string;
}

/** A YAML double-quoted scalar (JSON's string syntax is valid YAML), with forward slashes for paths. */
const str = (s: string) => JSON.stringify(s.replace(/\\/g, '/'));

function sop(model: 'small' | 'base', outputDir: string): string {
  return `# Fine-tune DINOv2-${model} for image-to-image search on Stanford Online Products (SOP).
# Prepare the data first:  vembed prepare-sop --sop_root data/stanford_online_products
#   (or the command palette: vembed: Prepare SOP Data)
# Relative paths are resolved against the workspace folder.
# Every key is documented on hover (and in docs/config-reference.md).

# --- model ---
model_type: "custom"
model_name: "facebook/dinov2-${model}"   # downloaded into the Hugging Face cache on first use
retrieval_mode: "i2i"                 # image-to-image retrieval
use_lora: true                        # train small adapters, keep the backbone frozen
lora_r: 16

# --- data ---
data_path: "data/stanford_online_products/train.jsonl"
val_data_path: "data/stanford_online_products/val.jsonl"   # SOP's test split: these are test numbers
image_root: "data/stanford_online_products"

# --- training ---
epochs: ${model === 'small' ? 20 : 10}
batch_size: 128                       # large batches help contrastive learning
use_gradient_cache: true              # memory follows the chunk, not the batch
gradient_cache_chunk_size: 8
loss_type: "infonce"
learning_rate: 5.0e-5
output_dir: ${str(outputDir)}
`;
}

function sample(inputs: TemplateInputs): string {
  const local = inputs.sampleModel !== undefined;
  const model = inputs.sampleModel ?? 'facebook/dinov2-small';
  return `# Fine-tune on the built-in sample set: 288 products x 5 views in SOP's layout.
# Get it first: vembed: Get Sample Data (or \`vembed sample-data\`), which writes data/sample-sop.
# Relative paths are resolved against the workspace folder.

# --- model ---
model_type: "custom"
model_name: ${str(model)}${local ? '   # the small DINOv2-shaped model bundled with vembed (not DINOv2)' : ''}
retrieval_mode: "i2i"
use_lora: ${local ? 'false                     # 1.9 M parameters: train them all' : 'true'}
image_size: ${local ? "84                      # the tiny model's native input" : '224'}

# --- data ---
data_path: "data/sample-sop/train.jsonl"     # 144 products x 5 views
val_data_path: "data/sample-sop/val.jsonl"   # the sample's test split
image_root: "data/sample-sop"
enable_image_cache: true                     # small images: decode them once

# --- training ---
epochs: 5
batch_size: 32
use_gradient_cache: true
gradient_cache_chunk_size: 16
loss_type: "infonce"
learning_rate: ${local ? '5.0e-4' : '5.0e-5'}
output_dir: ${str(inputs.outputDir ?? 'runs/sample')}
`;
}

function prepared(inputs: TemplateInputs): string {
  const dir = (inputs.dataDir ?? 'data/prepared').replace(/\\/g, '/').replace(/\/$/, '');
  return `# Fine-tune DINOv2-small on your own products, prepared by vembed: Prepare Data...
# (\`vembed prepare-data\`: one folder per product, or a CSV of image, product).
# Relative paths are resolved against the workspace folder.

# --- model ---
model_type: "custom"
model_name: "facebook/dinov2-small"   # or dinov2-base / -large, as memory allows
retrieval_mode: "i2i"
use_lora: true
lora_r: 16

# --- data ---
data_path: ${str(`${dir}/train.jsonl`)}
val_data_path: ${str(`${dir}/val.jsonl`)}   # held-out products: the numbers to trust
image_root: ${str(inputs.imageRoot ?? dir)}

# --- training ---
epochs: 10
batch_size: 64
use_gradient_cache: true
gradient_cache_chunk_size: 8
loss_type: "infonce"
learning_rate: 5.0e-5
output_dir: ${str(inputs.outputDir ?? 'runs/my-data')}
`;
}

/** The config text of a template. */
export function renderConfigTemplate(id: ConfigTemplateId, inputs: TemplateInputs = {}): string {
  switch (id) {
    case 'dinov2-small-sop':
      return sop('small', inputs.outputDir ?? 'runs/dinov2-small-sop');
    case 'dinov2-base-sop':
      return sop('base', inputs.outputDir ?? 'runs/dinov2-base-sop');
    case 'sample':
      return sample(inputs);
    case 'prepared':
      return prepared(inputs);
  }
}
