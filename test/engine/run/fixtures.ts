/** A tiny model folder and a tiny labelled pair dataset, generated in a temp folder. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { randomDinov2Encoder } from '../../../src/engine/model/random';
import { saveFullModel } from '../../../src/engine/model';
import { Rng } from '../../../src/engine/util/rng';
import { readSafetensors, writeSafetensors } from '../../../src/engine/io/safetensors';
import { makeSopTree } from '../data/sopTree';

export const TINY_MODEL_CONFIG = { hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, image_size: 28 };

export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vembed-${tag}-`));
}

/** A random DINOv2-architecture model saved in the Hugging Face layout. */
export async function writeTinyModel(dir: string, options: { seed?: number; poison?: boolean } = {}): Promise<string> {
  await activateBackend('wasm');
  const enc = randomDinov2Encoder(TINY_MODEL_CONFIG, { seed: options.seed ?? 1 });
  saveFullModel(enc, dir);
  enc.dispose();
  if (options.poison) {
    // A NaN in the final layer norm makes every embedding NaN: the first loss is not finite.
    const file = path.join(dir, 'model.safetensors');
    const { tensors } = readSafetensors(file);
    tensors.get('layernorm.weight')!.data[0] = NaN;
    writeSafetensors(file, tensors);
  }
  return dir;
}

/** `products` products with `views` views each: a per-product colour pattern, shifted and mirrored per view. */
export async function writePairData(dir: string, products = 8, views = 3): Promise<{ train: string; val: string }> {
  const rng = new Rng(7);
  const lines: string[] = [];
  for (let p = 0; p < products; p++) {
    const base = Buffer.alloc(48 * 48 * 3);
    for (let i = 0; i < base.length; i++) base[i] = rng.int(256);
    const files: string[] = [];
    for (let v = 0; v < views; v++) {
      const file = `p${p}_v${v}.png`;
      let img = sharp(base, { raw: { width: 48, height: 48, channels: 3 } }).extract({
        left: v * 4,
        top: v * 2,
        width: 40,
        height: 40,
      });
      if (v % 2 === 1) img = img.flop();
      await img.png().toFile(path.join(dir, file));
      files.push(file);
    }
    for (let v = 0; v < views; v++)
      lines.push(JSON.stringify({ query_image: files[v], positive: files[(v + 1) % views], label: 100 + p }));
  }
  const train = path.join(dir, 'train.jsonl');
  const val = path.join(dir, 'val.jsonl');
  fs.writeFileSync(train, lines.join('\n') + '\n');
  fs.writeFileSync(val, lines.slice(0, 12).join('\n') + '\n');
  return { train, val };
}

export function writeConfig(dir: string, extra: Record<string, unknown> = {}): string {
  const cfg: Record<string, unknown> = {
    model_name: 'model',
    data_path: 'data/train.jsonl',
    val_data_path: 'data/val.jsonl',
    image_root: 'data',
    image_size: 28,
    epochs: 2,
    batch_size: 8,
    gradient_cache_chunk_size: 4,
    learning_rate: 0.001,
    warmup_steps: 1,
    use_lora: true,
    lora_r: 4,
    lora_alpha: 8,
    output_dir: 'out',
    num_workers: 0,
    seed: 3,
    ...extra,
  };
  const file = path.join(dir, 'train_i2i.yaml');
  fs.writeFileSync(
    file,
    Object.entries(cfg)
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n') + '\n',
  );
  return file;
}

/**
 * A work folder for a test file that runs `vembed train` many times: the tiny model and pair data made
 * once, and `runDir` folders that link them in beside their own config (`writeConfig` with `extra`).
 * Needs the built engine (`npm run build`; npm test builds first).
 */
export class SharedRunData {
  private constructor(readonly work: string) {}

  static async create(tag: string): Promise<SharedRunData> {
    const root = path.resolve(__dirname, '../../..');
    if (!fs.existsSync(path.join(root, 'dist/engine/vembed.js')))
      throw new Error('run `npm run build` first (npm test does)');
    const work = tempDir(tag);
    await writeTinyModel(path.join(work, 'model'));
    fs.mkdirSync(path.join(work, 'data'));
    await writePairData(path.join(work, 'data'));
    return new SharedRunData(work);
  }

  /** A fresh run folder `tag` with the shared model and data linked in, and its config. */
  runDir(tag: string, extra: Record<string, unknown> = {}): { dir: string; config: string } {
    const dir = path.join(this.work, tag);
    fs.mkdirSync(dir);
    fs.symlinkSync(path.join(this.work, 'model'), path.join(dir, 'model'));
    fs.symlinkSync(path.join(this.work, 'data'), path.join(dir, 'data'));
    return { dir, config: writeConfig(dir, extra) };
  }

  remove(): void {
    fs.rmSync(this.work, { recursive: true, force: true });
  }
}

/**
 * The inference commands' work: a folder holding the tiny model (`model`) and a tiny SOP tree (data/sopTree.ts,
 * TEST and TRAIN), made once per test file; `remove` deletes both.
 */
export async function makeInferenceWork(tag: string): Promise<{ work: string; sop: string; remove: () => void }> {
  const work = tempDir(tag);
  await writeTinyModel(path.join(work, 'model'));
  const sop = await makeSopTree();
  return {
    work,
    sop,
    remove: () => {
      fs.rmSync(work, { recursive: true, force: true });
      fs.rmSync(sop, { recursive: true, force: true });
    },
  };
}
