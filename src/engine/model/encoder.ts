/**
 * A DINOv2 image encoder with its trainable state: the `ImageEncoder` the
 * image pipeline and training use.
 *
 * It owns tf.Variables named by their Hugging Face tensor names (prefixed
 * with an instance tag, because tfjs variable names are global), optional
 * LoRA adapters, and an optional projection head. What trains is chosen with
 * `setTrainable`: nothing, every base parameter (full fine-tuning), or the
 * adapters; the projection head trains whenever anything does.
 */
import { tf, type Tensor2D, type Tensor3D, type Tensor4D, type Variable } from '../backend/tf';
import type { TensorToWrite } from '../io/safetensors';
import { Rng } from '../util/rng';
import type { Dinov2Config } from './config';
import {
  dinov2Forward,
  dinov2Pooled,
  projectionHead,
  resizePositionEmbeddings,
  type Dinov2Weights,
  type ForwardContext,
  type Layer,
  type Linear,
  type LoraAdapter,
  type Norm,
  type PoolingMethod,
} from './dinov2';
import {
  initLoraA,
  loraScale,
  loraVariableName,
  selectLoraModules,
  validateLoraSettings,
  type LoraSettings,
} from './lora';
import { adapterDropoutSeed } from './steps/linear';
import { fromHfLayout, paramSpecs, storedShape, toHfLayout, type ParamSpec } from './params';
import type { ImageEncoder, ImageProcessing } from './types';

export type TrainableSet = 'none' | 'full' | 'lora';

/** Name of the projection head's weight in `trainableVariables()` and in its file. */
export const PROJECTION_WEIGHT = 'projection.weight';

export interface EncoderInit {
  config: Dinov2Config;
  processing: ImageProcessing;
  /** The folder's preprocessor_config.json, kept so a saved model carries its other fields. */
  preprocessorRaw: Record<string, unknown> | null;
  pooling: PoolingMethod;
  /** Hub id or folder the base model came from (an adapter's base_model_name_or_path). */
  nameOrPath: string;
  /** Seeds adapter and head initialisation and the dropout masks drawn without an explicit seed. */
  seed: number;
}

/** Supplies a base tensor in Hugging Face layout, or null when the checkpoint lacks it. */
export type TensorReader = (spec: ParamSpec) => Float32Array | null;

interface BaseParam {
  spec: ParamSpec;
  variable: Variable;
}

let instanceCounter = 0;

export class Dinov2ImageEncoder implements ImageEncoder {
  readonly config: Dinov2Config;
  readonly processing: ImageProcessing;
  readonly preprocessorRaw: Record<string, unknown> | null;
  readonly nameOrPath: string;
  /** The seed it was created with (EncoderInit.seed). */
  readonly seed: number;
  pooling: PoolingMethod;

  private readonly tag = `dinov2_${++instanceCounter}`;
  private readonly params = new Map<string, BaseParam>();
  private readonly weights: Dinov2Weights;
  private readonly linears = new Map<string, Linear>();
  private readonly rng: Rng;
  private head: Variable | null = null;
  private lora: { settings: LoraSettings; adapters: Map<string, LoraAdapter> } | null = null;
  private trainable: TrainableSet = 'none';
  private readonly positionCache = new Map<string, { source: object; table: Tensor2D }>();
  private disposed = false;

  constructor(init: EncoderInit, read: TensorReader) {
    this.config = init.config;
    this.processing = init.processing;
    this.preprocessorRaw = init.preprocessorRaw;
    this.nameOrPath = init.nameOrPath;
    this.pooling = init.pooling;
    this.seed = init.seed;
    this.rng = new Rng(init.seed);
    try {
      for (const spec of paramSpecs(this.config)) {
        const data = read(spec);
        if (!data && spec.fallback !== 'zeros') throw new Error(`the checkpoint has no tensor "${spec.name}"`);
        const value = data ? fromHfLayout(spec, data) : tf.zeros(storedShape(spec));
        this.params.set(spec.name, { spec, variable: tf.variable(value, false, `${this.tag}/${spec.name}`) });
        value.dispose();
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
    this.weights = this.assemble();
  }

  // ---------------------------------------------------------------- structure

  private v(name: string): Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`internal: no parameter ${name}`);
    return p.variable;
  }

  private linear(path: string, bias = true): Linear {
    const l: Linear = {
      path,
      weight: this.v(`${path}.weight`),
      bias: bias ? this.v(`${path}.bias`) : null,
      lora: null,
    };
    this.linears.set(path, l);
    return l;
  }

  private norm(path: string): Norm {
    return { weight: this.v(`${path}.weight`), bias: this.v(`${path}.bias`) };
  }

  private assemble(): Dinov2Weights {
    const c = this.config;
    const layers: Layer[] = [];
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `encoder.layer.${i}`;
      layers.push({
        norm1: this.norm(`${p}.norm1`),
        query: this.linear(`${p}.attention.attention.query`, c.qkvBias),
        key: this.linear(`${p}.attention.attention.key`, c.qkvBias),
        value: this.linear(`${p}.attention.attention.value`, c.qkvBias),
        output: this.linear(`${p}.attention.output.dense`),
        layerScale1: this.v(`${p}.layer_scale1.lambda1`),
        norm2: this.norm(`${p}.norm2`),
        mlp: c.useSwigluFfn
          ? {
              kind: 'swiglu',
              weightsIn: this.linear(`${p}.mlp.weights_in`),
              weightsOut: this.linear(`${p}.mlp.weights_out`),
            }
          : { kind: 'gelu', fc1: this.linear(`${p}.mlp.fc1`), fc2: this.linear(`${p}.mlp.fc2`) },
        layerScale2: this.v(`${p}.layer_scale2.lambda1`),
      });
    }
    const patchProjection = this.linear('embeddings.patch_embeddings.projection');
    // The conv is not a LoRA target (PEFT would adapt it as a Conv2d; we do not).
    this.linears.delete(patchProjection.path);
    return {
      clsToken: this.v('embeddings.cls_token'),
      registerTokens: c.modelType === 'dinov2_with_registers' ? this.v('embeddings.register_tokens') : null,
      positionEmbeddings: this.v('embeddings.position_embeddings'),
      patchProjection,
      layers,
      layernorm: this.norm('layernorm'),
    };
  }

  /** Every module path (containers included, as PyTorch's named_modules lists them), for LoRA target matching. */
  modulePaths(): Array<{ path: string; linear: boolean }> {
    const seen = new Set<string>();
    const out: Array<{ path: string; linear: boolean }> = [];
    for (const name of this.params.keys()) {
      const parts = name.split('.').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const path = parts.slice(0, i).join('.');
        if (seen.has(path)) continue;
        seen.add(path);
        out.push({ path, linear: this.linears.has(path) });
      }
    }
    return out;
  }

  /** [in, out] of the linear layer at `path`. */
  linearShape(path: string): [number, number] {
    const l = this.linears.get(path);
    if (!l) throw new Error(`no linear layer at ${path}`);
    return l.weight.shape as [number, number];
  }

  // ---------------------------------------------------------------- ImageEncoder

  get embeddingDim(): number {
    return this.head ? this.head.shape[1]! : this.config.hiddenSize;
  }

  get projectionDim(): number | null {
    return this.head ? this.head.shape[1]! : null;
  }

  /** [n, H, W, 3] normalised pixels -> [n, T, D]: Hugging Face's last_hidden_state. */
  lastHiddenState(pixels: Tensor4D, options: { training?: boolean; dropoutSeed?: number } = {}): Tensor3D {
    this.assertLive();
    return tf.tidy(() => dinov2Forward(pixels, this.weights, this.config, this.context(options)));
  }

  embed(pixels: Tensor4D, options: { training?: boolean; dropoutSeed?: number } = {}): Tensor2D {
    this.assertLive();
    return tf.tidy(() => {
      const pooled = dinov2Pooled(pixels, this.weights, this.config, this.context(options), this.pooling);
      return this.head ? projectionHead(pooled, this.head) : pooled;
    });
  }

  /**
   * The weights the forward pass reads, LoRA adapters attached as they are,
   * and the projection head ([D, P]) if any: for building other forms of the
   * same model from the same structures (onnx/dinov2Graph.ts). Read-only.
   */
  forwardWeights(): { weights: Dinov2Weights; head: Variable | null } {
    this.assertLive();
    return { weights: this.weights, head: this.head };
  }

  /**
   * Every base parameter by Hugging Face name, trainable or not. Linear
   * weights are stored [in, out] (PyTorch's transposed) and the patch
   * projection [p*p*C, D] (params.ts); everything else as in PyTorch.
   */
  baseVariables(): Map<string, Variable> {
    return new Map([...this.params].map(([name, p]) => [name, p.variable] as const));
  }

  trainableVariables(): Map<string, Variable> {
    const out = new Map<string, Variable>();
    if (this.trainable === 'full') {
      for (const [name, p] of this.params) if (p.variable.trainable) out.set(name, p.variable);
    }
    if (this.trainable === 'lora' && this.lora) {
      for (const [path, a] of this.lora.adapters) {
        out.set(loraVariableName(path, 'A'), a.a);
        out.set(loraVariableName(path, 'B'), a.b);
      }
    }
    if (this.trainable !== 'none' && this.head) out.set(PROJECTION_WEIGHT, this.head);
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.clearPositionCache();
    for (const p of this.params.values()) p.variable.dispose();
    this.params.clear();
    this.disposeLora();
    this.head?.dispose();
    this.head = null;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this encoder was disposed');
  }

  private context(options: { training?: boolean; dropoutSeed?: number }): ForwardContext {
    const training = options.training === true;
    const base =
      options.dropoutSeed ?? (training && this.lora && this.lora.settings.dropout > 0 ? this.rng.nextUint32() : 0);
    return {
      training,
      dropoutSeed: (index) => adapterDropoutSeed(base, index),
      // Full fine-tuning keeps the inputs of every weight gradient and the optimizer holds
      // two moments per weight; recomputing attention keeps it in the memory LoRA needs.
      recomputeAttention: this.trainable === 'full',
      positionEmbeddings: (gh, gw) => this.positionEmbeddings(gh, gw),
    };
  }

  /**
   * Resized position embeddings; cached per grid while they are frozen. The
   * cache is keyed by the variable's data too, so an `assign` invalidates it.
   */
  private positionEmbeddings(gh: number, gw: number): Tensor2D {
    const pos = this.weights.positionEmbeddings;
    if (pos.trainable) return resizePositionEmbeddings(pos, this.config, gh, gw);
    const key = `${gh}x${gw}`;
    const cached = this.positionCache.get(key);
    if (cached && cached.source === pos.dataId) return cached.table;
    cached?.table.dispose();
    const table = tf.keep(tf.tidy(() => resizePositionEmbeddings(pos, this.config, gh, gw)));
    this.positionCache.set(key, { source: pos.dataId, table });
    return table;
  }

  private clearPositionCache(): void {
    for (const { table } of this.positionCache.values()) table.dispose();
    this.positionCache.clear();
  }

  // ---------------------------------------------------------------- training state

  /**
   * Choose what trains: 'none' (inference), 'full' (every base parameter
   * but the unused mask token, plus the head) or 'lora' (the adapters plus
   * the head; needs `addLora` first). Full fine-tuning with adapters present
   * needs `mergeLora` first.
   */
  setTrainable(set: TrainableSet): void {
    this.assertLive();
    if (set === 'lora' && !this.lora)
      throw new Error('cannot train LoRA adapters: none were added (call addLora first)');
    if (set === 'full' && this.lora)
      throw new Error('cannot fine-tune all weights while LoRA adapters are attached; merge them first (mergeLora)');
    for (const p of this.params.values()) p.variable.trainable = set === 'full' && p.spec.trainable;
    if (this.lora) {
      for (const a of this.lora.adapters.values()) {
        a.a.trainable = set === 'lora';
        a.b.trainable = set === 'lora';
      }
    }
    if (this.head) this.head.trainable = set !== 'none';
    this.trainable = set;
    this.clearPositionCache();
  }

  get trainableSet(): TrainableSet {
    return this.trainable;
  }

  get loraSettings(): LoraSettings | null {
    return this.lora ? { ...this.lora.settings } : null;
  }

  /** Module paths that carry adapters, in model order. */
  loraModules(): string[] {
    return this.lora ? [...this.lora.adapters.keys()] : [];
  }

  /**
   * Attach adapters to the modules `settings.targetModules` selects. `values`
   * supplies saved A [r, in] and B [out, r] (PEFT layout) per module; without
   * it A is initialised as PEFT does and B is zero. Adapters start frozen;
   * `setTrainable('lora')` trains them.
   */
  addLora(settings: LoraSettings, values?: (modulePath: string) => { a: Float32Array; b: Float32Array }): void {
    this.assertLive();
    if (this.lora) throw new Error('this encoder already has LoRA adapters');
    validateLoraSettings(settings, 'LoRA');
    const paths = selectLoraModules(this.modulePaths(), settings.targetModules);
    const scale = loraScale(settings);
    const adapters = new Map<string, LoraAdapter>();
    const initRng = this.rng.fork();
    try {
      paths.forEach((path, index) => {
        const layer = this.linears.get(path)!;
        const [inF, outF] = layer.weight.shape as [number, number];
        const given = values?.(path);
        const aPeft = given ? given.a : initLoraA(settings.r, inF, initRng);
        const bPeft = given ? given.b : new Float32Array(outF * settings.r);
        const a = tf.tidy(() => tf.transpose(tf.tensor2d(aPeft, [settings.r, inF]))); // [in, r]
        const b = tf.tidy(() => tf.transpose(tf.tensor2d(bPeft, [outF, settings.r]))); // [r, out]
        const adapter: LoraAdapter = {
          a: tf.variable(a, false, `${this.tag}/${loraVariableName(path, 'A')}`),
          b: tf.variable(b, false, `${this.tag}/${loraVariableName(path, 'B')}`),
          scale,
          dropout: settings.dropout,
          index,
        };
        a.dispose();
        b.dispose();
        adapters.set(path, adapter);
      });
    } catch (e) {
      for (const a of adapters.values()) {
        a.a.dispose();
        a.b.dispose();
      }
      throw e;
    }
    for (const [path, adapter] of adapters) this.linears.get(path)!.lora = adapter;
    this.lora = { settings: { ...settings }, adapters };
    if (this.trainable === 'lora') this.setTrainable('lora');
  }

  /** Change the adapters' dropout (a training choice, not part of the saved weights). */
  setLoraDropout(rate: number): void {
    if (!this.lora) return;
    validateLoraSettings({ ...this.lora.settings, dropout: rate }, 'LoRA');
    this.lora.settings.dropout = rate;
    for (const a of this.lora.adapters.values()) a.dropout = rate;
  }

  /** Fold the adapters into the base weights (W += scale · A B) and drop them, as PEFT's merge_and_unload. */
  mergeLora(): void {
    this.assertLive();
    if (!this.lora) return;
    for (const [path, adapter] of this.lora.adapters) {
      const layer = this.linears.get(path)!;
      const merged = tf.tidy(() => tf.add(layer.weight, tf.mul(tf.matMul(adapter.a, adapter.b), adapter.scale)));
      layer.weight.assign(merged as Tensor2D);
      merged.dispose();
    }
    this.disposeLora();
    if (this.trainable === 'lora') this.setTrainable('none');
  }

  private disposeLora(): void {
    if (!this.lora) return;
    for (const [path, a] of this.lora.adapters) {
      a.a.dispose();
      a.b.dispose();
      const layer = this.linears.get(path);
      if (layer) layer.lora = null;
    }
    this.lora = null;
  }

  // ---------------------------------------------------------------- projection head

  /**
   * Attach a bias-free projection head D -> dim. `weight` is PyTorch's layout
   * [dim, D]; without it the head starts as nn.Linear does (U(-1/sqrt(D), 1/sqrt(D))).
   */
  setProjectionHead(dim: number, weight?: Float32Array): void {
    this.assertLive();
    const D = this.config.hiddenSize;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`projection_dim must be a positive integer, got ${dim}`);
    let data = weight;
    if (data && data.length !== dim * D)
      throw new Error(`projection head weight has ${data.length} values; [${dim}, ${D}] needs ${dim * D}`);
    if (!data) {
      const rng = this.rng.fork();
      const bound = 1 / Math.sqrt(D);
      data = new Float32Array(dim * D);
      for (let i = 0; i < data.length; i++) data[i] = rng.uniform(-bound, bound);
    }
    const t = tf.tidy(() => tf.transpose(tf.tensor2d(data!, [dim, D]))); // [D, dim]
    this.head?.dispose();
    this.head = tf.variable(t, this.trainable !== 'none', `${this.tag}/${PROJECTION_WEIGHT}`);
    t.dispose();
  }

  // ---------------------------------------------------------------- export

  /**
   * The base model's tensors in Hugging Face names and layout, each produced
   * only when written. Attached adapters are folded in (the weights a merged
   * model would have), so the result is a plain `Dinov2Model` checkpoint.
   */
  hfTensors(): Map<string, TensorToWrite> {
    this.assertLive();
    const out = new Map<string, TensorToWrite>();
    for (const [name, p] of this.params) {
      const adapter = p.spec.layout === 'linear' ? this.lora?.adapters.get(name.replace(/\.weight$/, '')) : undefined;
      out.set(name, {
        shape: p.spec.hfShape,
        data: () => {
          if (!adapter) return toHfLayout(p.spec, p.variable);
          const merged = tf.tidy(() => tf.add(p.variable, tf.mul(tf.matMul(adapter.a, adapter.b), adapter.scale)));
          try {
            return toHfLayout(p.spec, merged);
          } finally {
            merged.dispose();
          }
        },
      });
    }
    return out;
  }

  /** The adapters in PEFT's layout: per module, A [r, in] and B [out, r]. */
  loraTensors(): Map<string, { a: TensorToWrite; b: TensorToWrite }> {
    this.assertLive();
    const out = new Map<string, { a: TensorToWrite; b: TensorToWrite }>();
    if (!this.lora) return out;
    const asPeft = (v: Variable) => (): Float32Array => {
      const t = tf.tidy(() => tf.transpose(v));
      try {
        return t.dataSync() as Float32Array;
      } finally {
        t.dispose();
      }
    };
    for (const [path, a] of this.lora.adapters) {
      const [inF, r] = a.a.shape as [number, number];
      const outF = a.b.shape[1]!;
      out.set(path, { a: { shape: [r, inF], data: asPeft(a.a) }, b: { shape: [outF, r], data: asPeft(a.b) } });
    }
    return out;
  }

  /** The projection head in PyTorch's layout [P, D], or null. */
  projectionTensor(): TensorToWrite | null {
    this.assertLive();
    const head = this.head;
    if (!head) return null;
    const [D, P] = head.shape as [number, number];
    return {
      shape: [P, D],
      data: () => {
        const t = tf.tidy(() => tf.transpose(head));
        try {
          return t.dataSync() as Float32Array;
        } finally {
          t.dispose();
        }
      },
    };
  }
}
