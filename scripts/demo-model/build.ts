/**
 * Builds models/vembed-tiny, the starting model of the offline demo: a small
 * DINOv2-architecture encoder pretrained by this project's own trainer on
 * Openclipart drawings that are not in the sample data set.
 *
 *   npx tsx scripts/demo-model/build.ts [--seed N] [--positives self|views] [--work DIR] [--out DIR]
 *
 * Steps: render the pretraining set (views of drawings, one label per
 * drawing), save a randomly initialised model, write the training config,
 * run `vembed train` on it, and copy the last checkpoint's model files plus
 * a model card into the output folder (replaced atomically).
 * Deterministic for a seed with the same packages on the wasm backend.
 *
 * Positives (pretrainSet.ts, `PositiveMode`): by default `self`, two random
 * augmentations of the same picture, as in self-supervised pretraining. With
 * `views` (another view of the same drawing) the model learns the very
 * invariances the demo's fine-tuning is meant to teach (same renderer), and
 * fine-tuning on the sample set then adds only about 2 points of Recall@1;
 * with `self` it adds about 5 (Recall@10: about 14), which is what the demo
 * is for. See models/vembed-tiny/README.md.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { activateBackend } from '../../src/engine/backend/ladder';
import { writeDirAtomic, writeFileAtomic } from '../../src/shared/fs/atomic';
import { saveInitialModel, type TinyArchitecture } from './initModel';
import { modelCardText } from './modelCard';
import { buildPretrainSet, readSampleSources, writePairs, type PositiveMode } from './pretrainSet';
import { REPO_ROOT, runTrainCli, yamlText } from './trainCli';

/** The model: DINOv2's layout, ~1.9 M parameters (7.6 MB), trained and used at 84 px. */
export const ARCHITECTURE: TinyArchitecture = {
  hidden_size: 192,
  num_hidden_layers: 4,
  num_attention_heads: 3,
  image_size: 84,
};

/** The pretraining set. */
export const DATA = { drawings: 1200, viewsPerDrawing: 4, perFolderCap: 100 } as const;

export const DEFAULT_POSITIVES: PositiveMode = 'self';

/** Training settings (config keys of `vembed train`); paths and the seed are added in `main`. */
export const TRAINING = {
  image_size: ARCHITECTURE.image_size,
  epochs: 3,
  batch_size: 64,
  use_gradient_cache: true,
  gradient_cache_chunk_size: 32,
  loss_type: 'infonce',
  temperature: 0.1,
  learning_rate: 1e-3,
  weight_decay: 0.05,
  scheduler_type: 'cosine',
  warmup_ratio: 0.1,
  // Stronger than the defaults (0.5, 0.2): with `self` positives, augmentation is all that makes the two sides differ.
  crop_scale_min: 0.25,
  color_jitter: 0.4,
  enable_image_cache: true,
  logging_steps: 10,
} as const;

const FILES_TO_SHIP = ['config.json', 'model.safetensors', 'preprocessor_config.json', 'embedding_head.json'];
const OPENCLIPART = '/usr/share/openclipart/svg';
const SAMPLE = 'data/sample-sop';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const rel = (p: string) => path.relative(REPO_ROOT, p) || '.';
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

async function main(): Promise<void> {
  const seed = Number(arg('seed', '1'));
  if (!Number.isInteger(seed) || seed < 0)
    throw new Error(`--seed must be a non-negative integer, got ${arg('seed', '')}`);
  const positives = arg('positives', DEFAULT_POSITIVES);
  if (positives !== 'self' && positives !== 'views')
    throw new Error(`--positives must be "self" or "views", got "${positives}"`);
  const work = path.resolve(REPO_ROOT, arg('work', 'runs/demo-model'));
  const out = path.resolve(REPO_ROOT, arg('out', 'models/vembed-tiny'));
  const started = Date.now();
  const loadStart = os.loadavg()[0]!;

  const set = await buildPretrainSet({
    sourceRoot: OPENCLIPART,
    sampleSources: path.join(REPO_ROOT, SAMPLE, 'SOURCES.tsv'),
    outDir: path.join(work, 'pretrain-data'),
    ...DATA,
    seed,
    log,
  });

  // The initial weights come from the engine's seeded random initialiser (plain JavaScript); the backend only holds
  // them.
  await activateBackend('wasm');
  const initDir = path.join(work, 'init');
  fs.rmSync(initDir, { recursive: true, force: true });
  const init = saveInitialModel(ARCHITECTURE, seed, initDir);
  log(`initial model: ${init.parameters.toLocaleString('en-US')} parameters in ${rel(initDir)}`);

  const outputDir = path.join(work, 'pretrain-run');
  fs.rmSync(outputDir, { recursive: true, force: true });
  const config = {
    model_name: rel(initDir),
    data_path: rel(writePairs(set, positives, seed)),
    // Not set: image paths are relative to each data file's own folder (the pretraining set's, the sample's).
    image_root: null,
    // Reported per epoch only; nothing is trained on it.
    val_data_path: `${SAMPLE}/val.jsonl`,
    ...TRAINING,
    seed,
    output_dir: rel(outputDir),
  };
  const configFile = path.join(work, 'pretrain.yaml');
  writeFileAtomic(
    configFile,
    yamlText(
      config,
      `Pretraining of models/vembed-tiny, written by scripts/demo-model/build.ts (seed ${seed}, positives: ${positives}).`,
    ),
  );
  log(`pretraining: vembed train --config ${rel(configFile)} (${TRAINING.epochs} epochs of ${set.images} pairs)`);
  const outcome = await runTrainCli(rel(configFile), {
    backend: 'wasm',
    onEvent: (e) => {
      if (e.type === 'step' && ((e.step as number) % 10 === 0 || e.step === 1))
        log(`  step ${String(e.step)}: loss ${(e.loss as number).toFixed(3)}`);
      if (e.type === 'epoch')
        log(
          `  epoch ${String(e.epoch)}: mean loss ${(e.meanLoss as number).toFixed(3)} in ${(e.seconds as number).toFixed(0)} s`,
        );
      if (e.type === 'evaluation') {
        const m = e.metrics as Record<string, number>;
        log(
          `  sample test split after epoch ${String(e.epoch)}: Recall@1 ${(100 * m['recall@1']!).toFixed(2)}%, Recall@10 ${(100 * m['recall@10']!).toFixed(2)}%`,
        );
      }
    },
  });
  if (!outcome.lastCheckpoint) throw new Error(`pretraining finished without a checkpoint in ${rel(outputDir)}`);
  log(`pretraining done in ${(outcome.seconds / 60).toFixed(1)} min; last checkpoint ${rel(outcome.lastCheckpoint)}`);

  const checkpoint = path.resolve(REPO_ROOT, outcome.lastCheckpoint);
  const weightsBytes = fs.statSync(path.join(checkpoint, 'model.safetensors')).size;
  const cpus = os.cpus();
  const card = modelCardText({
    command: `npx tsx scripts/demo-model/build.ts --seed ${seed} --positives ${positives}`,
    seed,
    positives,
    arch: ARCHITECTURE,
    parameters: init.parameters,
    weightsMegabytes: weightsBytes / 1e6,
    set,
    viewsPerDrawing: DATA.viewsPerDrawing,
    perFolderCap: DATA.perFolderCap,
    sampleDrawings: readSampleSources(path.join(REPO_ROOT, SAMPLE, 'SOURCES.tsv')).drawings.length,
    training: config,
    outcome,
    machine: `${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.arch()}, Node ${process.version}`,
    loadAverage: { start: loadStart, end: os.loadavg()[0]! },
    buildSeconds: (Date.now() - started) / 1000,
  });
  writeDirAtomic(out, (tmp) => {
    for (const f of FILES_TO_SHIP)
      if (fs.existsSync(path.join(checkpoint, f))) fs.copyFileSync(path.join(checkpoint, f), path.join(tmp, f));
    fs.writeFileSync(path.join(tmp, 'README.md'), card);
  });
  log(
    `wrote ${rel(out)} (${FILES_TO_SHIP.filter((f) => fs.existsSync(path.join(out, f))).join(', ')}, README.md) in ${((Date.now() - started) / 60000).toFixed(1)} min in all`,
  );
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exitCode = 1;
});
