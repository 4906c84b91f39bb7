/** The README.md model card of models/vembed-tiny (written by build.ts from what the build measured). */
import type { TinyArchitecture } from './initModel';
import type { PositiveMode, PretrainSet } from './pretrainSet';
import type { Evaluation, TrainOutcome } from './trainCli';

export interface CardFacts {
  command: string;
  seed: number;
  positives: PositiveMode;
  arch: TinyArchitecture;
  parameters: number;
  weightsMegabytes: number;
  set: PretrainSet;
  viewsPerDrawing: number;
  perFolderCap: number;
  /** Drawings in the sample set (all excluded). */
  sampleDrawings: number;
  training: Record<string, unknown>;
  outcome: TrainOutcome;
  machine: string;
  loadAverage: { start: number; end: number };
  /** Total build time (data, pretraining, copying), seconds. */
  buildSeconds: number;
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(100 * x).toFixed(2)}%`);
const minutes = (s: number) => `${(s / 60).toFixed(1)} min`;

function evaluationRow(e: Evaluation, what: string): string {
  const m = e.metrics;
  return `| ${what} | ${pct(m['recall@1'])} | ${pct(m['recall@10'])} | ${pct(m['recall@100'])} | ${pct(m['map@r'])} |`;
}

function selfPositives(f: CardFacts): string {
  return `A query's positive is **the same picture**, augmented independently on each side by the trainer (random
resized crop down to ${100 * Number(f.training.crop_scale_min)}% of the area, horizontal flip, colour jitter of ±${100 * Number(f.training.color_jitter)}%), as in
self-supervised pretraining; every other picture in the batch is a negative, except other views of the same
drawing that happen to share the batch (they count as positives: the label is the drawing). So the model
learns to recognise a picture under cropping and colour changes, but is (almost) never asked to match two
*different* views of a drawing, on other backgrounds, turned, scaled and lit differently. That is left to
fine-tuning, as with DINOv2 and real product photos, and it is what \`npm run demo\` shows. (Built with
\`--positives views\`, where another view of the drawing is the positive, the model learns those invariances here
already, from the sample set's own renderer, and the demo's fine-tuning then adds only about 2 points of Recall@1.)
`;
}

function viewPositives(): string {
  return `A query's positive is another view of the same drawing; every other drawing in the batch is a negative.
The model thus learns the invariances between views from the sample set's own renderer, so fine-tuning on the
sample set (\`npm run demo\`) adds little on top.
`;
}

export function modelCardText(f: CardFacts): string {
  const t = f.training;
  const first = f.outcome.evaluations[0];
  const last = f.outcome.evaluations.at(-1);
  const folders = Object.entries(f.set.byFolder)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lossCurve = f.outcome.epochLosses.map((l, i) => `epoch ${i + 1}: ${l.toFixed(3)}`).join('; ');
  const headDim = f.arch.hidden_size / f.arch.num_attention_heads;
  const grid = f.arch.image_size / 14;
  return `# vembed-tiny: the demo's offline starting model

**This is not DINOv2.** It has DINOv2's architecture and file layout (\`model_type: dinov2\`,
\`config.json\` + \`model.safetensors\` + \`preprocessor_config.json\` with the tensor names of Hugging Face's
\`Dinov2Model\`), but its weights are its own: this project
trained it from a random initialisation, on a 2-core CPU, in ${minutes(f.outcome.seconds)}. It is also much
smaller than DINOv2-small (${(f.parameters / 1e6).toFixed(2)} M parameters against 22 M, ${f.arch.image_size} px input
against 224) and far weaker. It exists so that \`npm run demo\` can show fine-tuning end to end on a machine
without internet access, where DINOv2's weights cannot be downloaded.

**With internet access, use \`model_name: facebook/dinov2-small\`** (or \`-base\`, \`-large\`, \`-giant\`).

## Architecture

| | |
|---|---|
| family | DINOv2 (ViT, patch 14, CLS token, LayerScale, exact GELU) |
| hidden size | ${f.arch.hidden_size} |
| layers | ${f.arch.num_hidden_layers} |
| attention heads | ${f.arch.num_attention_heads} (${headDim} dimensions each) |
| MLP | ${4 * f.arch.hidden_size} (ratio 4) |
| native input | ${f.arch.image_size} x ${f.arch.image_size} px (${grid} x ${grid} patches + CLS); resize shortest edge ${Math.round((f.arch.image_size * 256) / 224)}, center crop, ImageNet mean/std |
| embedding | ${f.arch.hidden_size}-d CLS token after the final layer norm |
| parameters | ${f.parameters.toLocaleString('en-US')} (float32, \`model.safetensors\` ${f.weightsMegabytes.toFixed(1)} MB) |

## Training data (no human labels)

${f.set.drawings.toLocaleString('en-US')} drawings from Debian's \`openclipart-svg\` package (public domain), none of them in the
sample data set (\`data/sample-sop\`): its ${f.sampleDrawings} drawings are excluded by path, by identical file contents, and by
near-identical rendering (${f.set.excludedAsSample} candidates left out as the same as, or a look-alike of, a sample drawing).
${f.set.fromOtherFolders} of the drawings come from Openclipart folders the sample set does not use; the rest are other
drawings from its folders. No directory gives more than ${f.perFolderCap} (\`shapes/stars\` alone holds 1,378).
By top-level folder: ${folders}.

Each drawing is rendered in ${f.viewsPerDrawing} random views (${f.set.images.toLocaleString('en-US')} JPEG images) by the sample set's own
renderer (\`scripts/sample-data/views.ts\`: random background, clutter, scale, position, rotation, mirroring,
lighting). The task is instance discrimination: each drawing is its own label.
${f.positives === 'self' ? selfPositives(f) : viewPositives()}
## Training

The project's own trainer, run as \`vembed train --config runs/demo-model/pretrain.yaml --json\` (backend ${f.outcome.device ?? 'wasm'}):
full training of all weights from the random initialisation of \`randomDinov2Encoder\` (seed ${f.seed}),
InfoNCE with temperature ${String(t.temperature)}, batch ${String(t.batch_size)} (gradient cache, chunks of ${String(t.gradient_cache_chunk_size)}),
AdamW with learning rate ${String(t.learning_rate)}, weight decay ${String(t.weight_decay)}, ${String(t.scheduler_type)} schedule after
${100 * Number(t.warmup_ratio)}% warmup, gradient clipping at norm 1, augmentation by random resized crop (scale
${String(t.crop_scale_min)} to 1), flip and colour jitter ${String(t.color_jitter)}, ${String(t.image_size)} px input, ${String(t.epochs)} epochs = ${f.outcome.steps} steps.

- trainer's summary: ${(f.outcome.modelLine ?? '').replace(/^model \S+: /, '')}
- loss: first step ${f.outcome.firstLoss?.toFixed(3) ?? 'n/a'}; mean per epoch: ${lossCurve}
- time: ${minutes(f.outcome.seconds)} of training (${minutes(f.buildSeconds)} for the whole build, rendering included)
- machine: ${f.machine}; load average ${f.loadAverage.start.toFixed(1)} at the start, ${f.loadAverage.end.toFixed(1)} at the end
  (the machine was shared with other jobs, so times are upper bounds)

## Quality on the sample set, before any fine-tuning

Recall@K on the sample set's **test** split (\`data/sample-sop/val.jsonl\`: 144 products x 5 views that the model
never saw; every image queries all the others), at ${String(t.image_size)} px:

| model | Recall@1 | Recall@10 | Recall@100 | MAP@R |
|---|---|---|---|---|
${first ? evaluationRow(first, 'random initialisation (same architecture)') : ''}
${last ? evaluationRow(last, '**vembed-tiny** (this model)') : ''}

These numbers were also what the pretraining settings were chosen by (a few trial runs), so read them as a
sanity check of the demo, not as a benchmark. \`npm run demo\` fine-tunes this model on the sample set's
training split (other products) and reports the same numbers again.

## Rebuilding

\`\`\`sh
${f.command}
\`\`\`

The build renders the pretraining set into \`runs/demo-model/\` (ignored by git), writes the initial model and
\`runs/demo-model/pretrain.yaml\`, trains, and replaces this folder with the last checkpoint's model files and this
card. It is deterministic for a seed (\`--seed\`, default ${f.seed}) with the same \`openclipart-svg\`, sharp and
TensorFlow.js versions on the wasm backend. Requires \`openclipart-svg\` (\`apt-get install openclipart-svg\`).

## Licence

The drawings are public domain; the weights are released under the project's licence (MIT).
`;
}
