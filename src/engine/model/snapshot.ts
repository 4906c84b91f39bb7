/**
 * An encoder as plain data, to rebuild an identical copy in another thread
 * (parallel embedding and gradient workers: each wasm instance is
 * single-threaded, so each thread needs its own copy of the model).
 *
 * The copy is made from the live encoder, not re-read from its folder: it
 * then holds exactly the weights the caller is using (an adapter, a
 * checkpoint, or a model in the middle of training), and a copy of a copy
 * computes bit for bit what the original computes. Everything in it is
 * structured-clonable (a worker's workerData or a postMessage).
 */
import { tf, type Variable } from '../backend/tf';
import type { TensorToWrite } from '../io/safetensors';
import { Dinov2ImageEncoder, type EncoderInit, type TrainableSet } from './encoder';
import type { LoraSettings } from './lora';
import { paramSpecs, toHfLayout } from './params';

export interface EncoderSnapshot {
  init: EncoderInit;
  /** Base tensors in Hugging Face layout, by name (adapters not folded in). */
  base: Map<string, Float32Array>;
  /** Adapters in PEFT layout (A [r, in], B [out, r]) by module path. */
  lora: { settings: LoraSettings; modules: Map<string, { a: Float32Array; b: Float32Array }> } | null;
  /** Projection head in PyTorch layout [dim, D]. */
  head: { dim: number; weight: Float32Array } | null;
  trainable: TrainableSet;
}

function valuesOf(t: TensorToWrite): Float32Array {
  return typeof t.data === 'function' ? t.data() : t.data;
}

export function snapshotEncoder(encoder: Dinov2ImageEncoder): EncoderSnapshot {
  const variables = encoder.baseVariables();
  const base = new Map<string, Float32Array>();
  for (const spec of paramSpecs(encoder.config)) {
    const v = variables.get(spec.name);
    if (!v) throw new Error(`internal: the encoder has no parameter ${spec.name}`);
    base.set(spec.name, toHfLayout(spec, v));
  }
  const settings = encoder.loraSettings;
  let lora: EncoderSnapshot['lora'] = null;
  if (settings) {
    const modules = new Map<string, { a: Float32Array; b: Float32Array }>();
    for (const [path, t] of encoder.loraTensors()) modules.set(path, { a: valuesOf(t.a), b: valuesOf(t.b) });
    lora = { settings, modules };
  }
  const headTensor = encoder.projectionTensor();
  return {
    init: {
      config: encoder.config,
      processing: encoder.processing,
      preprocessorRaw: encoder.preprocessorRaw,
      pooling: encoder.pooling,
      nameOrPath: encoder.nameOrPath,
      seed: encoder.seed,
    },
    base,
    lora,
    head: headTensor ? { dim: headTensor.shape[0]!, weight: valuesOf(headTensor) } : null,
    trainable: encoder.trainableSet,
  };
}

export function encoderFromSnapshot(snapshot: EncoderSnapshot): Dinov2ImageEncoder {
  const encoder = new Dinov2ImageEncoder(snapshot.init, (spec) => snapshot.base.get(spec.name) ?? null);
  try {
    const lora = snapshot.lora;
    if (lora) {
      encoder.addLora(lora.settings, (path) => {
        const m = lora.modules.get(path);
        if (!m) throw new Error(`encoder snapshot: no adapter for ${path}`);
        return m;
      });
    }
    if (snapshot.head) encoder.setProjectionHead(snapshot.head.dim, snapshot.head.weight);
    encoder.setTrainable(snapshot.trainable);
    return encoder;
  } catch (e) {
    encoder.dispose();
    throw e;
  }
}

/** The trainable variables' values (stored layout), by their names in `trainableVariables()`. */
export function trainableValues(encoder: Dinov2ImageEncoder): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of encoder.trainableVariables()) out.set(name, v.dataSync() as Float32Array);
  return out;
}

/** Overwrite trainable variables with values from `trainableValues` of an identical encoder. */
export function assignTrainableValues(encoder: Dinov2ImageEncoder, values: ReadonlyMap<string, Float32Array>): void {
  const vars = encoder.trainableVariables();
  for (const [name, data] of values) {
    const v: Variable | undefined = vars.get(name);
    if (!v) throw new Error(`internal: the encoder copy has no trainable variable ${name}`);
    if (data.length !== v.size) throw new Error(`internal: ${name} has ${v.size} values, the update ${data.length}`);
    const t = tf.tensor(data, v.shape, 'float32');
    v.assign(t);
    t.dispose();
  }
}
