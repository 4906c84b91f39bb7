/**
 * A tiny ImageEncoder for training tests: flattened NHWC pixels ->
 * fc1 -> tanh -> dropout -> fc2 -> layer norm. Weights use the Hugging Face
 * layout ([out, in]) and names (`fc1.weight`, `norm.bias`...), like the real
 * model; tf variable names get an instance prefix so that their names differ
 * from the parameter names, as they may in the real model.
 */
import { tf, type Tensor2D, type Tensor4D, type Variable } from '../../../../src/engine/backend/tf';
import type { ImageEncoder, ImageProcessing } from '../../../../src/engine/model/types';
import { Rng } from '../../../../src/engine/util/rng';

export interface TinyEncoderSpec {
  height: number;
  width: number;
  hidden: number;
  dim: number;
  /** Dropout rate after the hidden layer, in training mode. */
  dropout?: number;
  layerNormEps?: number;
  /** Initial weights by name (flat, row-major); otherwise drawn from `seed`. */
  weights?: Record<string, number[] | Float32Array>;
  seed?: number;
}

let instances = 0;

export class TinyEncoder implements ImageEncoder {
  readonly embeddingDim: number;
  readonly processing: ImageProcessing;
  private readonly vars = new Map<string, Variable>();
  private readonly dropout: number;
  private readonly eps: number;
  /** Every dropoutSeed embed() was called with in training mode, for assertions. */
  readonly seenDropoutSeeds: number[] = [];

  constructor(readonly spec: TinyEncoderSpec) {
    const prefix = `tiny${instances++}/`;
    this.embeddingDim = spec.dim;
    this.dropout = spec.dropout ?? 0;
    this.eps = spec.layerNormEps ?? 1e-6;
    this.processing = {
      imageSize: spec.height,
      resizeShortestEdge: spec.height,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      rescaleFactor: 1,
    };
    const inputs = spec.height * spec.width * 3;
    const shapes: Record<string, number[]> = {
      'fc1.weight': [spec.hidden, inputs],
      'fc1.bias': [spec.hidden],
      'fc2.weight': [spec.dim, spec.hidden],
      'fc2.bias': [spec.dim],
      'norm.weight': [spec.dim],
      'norm.bias': [spec.dim],
    };
    const rng = new Rng(spec.seed ?? 1);
    for (const [name, shape] of Object.entries(shapes)) {
      const size = shape.reduce((a, b) => a * b, 1);
      let values = spec.weights?.[name];
      if (!values) {
        // Norm gains start at 1; everything else uniform in +-1/sqrt(fan-in).
        const fanIn = shape[shape.length - 1]!;
        values = Float32Array.from({ length: size }, () =>
          name === 'norm.weight' ? 1 : rng.uniform(-1, 1) / Math.sqrt(fanIn),
        );
      }
      this.vars.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(Float32Array.from(values), shape), true, prefix + name)),
      );
    }
  }

  private v(name: string): Variable {
    return this.vars.get(name)!;
  }

  embed(pixels: Tensor4D, options: { training?: boolean; dropoutSeed?: number } = {}): Tensor2D {
    if (options.training && options.dropoutSeed !== undefined) this.seenDropoutSeeds.push(options.dropoutSeed);
    return tf.tidy(() => {
      const x = tf.reshape(pixels, [pixels.shape[0], -1]) as Tensor2D;
      let h = tf.tanh(tf.add(tf.matMul(x, this.v('fc1.weight'), false, true), this.v('fc1.bias'))) as Tensor2D;
      if (options.training && this.dropout > 0) {
        if (options.dropoutSeed === undefined)
          throw new Error('TinyEncoder: training with dropout needs a dropoutSeed');
        h = tf.dropout(h, this.dropout, undefined, options.dropoutSeed) as Tensor2D;
      }
      const z = tf.add(tf.matMul(h, this.v('fc2.weight'), false, true), this.v('fc2.bias'));
      const { mean, variance } = tf.moments(z, 1, true);
      const normed = tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.v('norm.weight')), this.v('norm.bias')) as Tensor2D;
    });
  }

  trainableVariables(): Map<string, Variable> {
    return new Map(this.vars);
  }

  /** Current weights by name, copied to the CPU. */
  snapshot(): Map<string, Float32Array> {
    return new Map([...this.vars].map(([k, v]) => [k, new Float32Array(v.dataSync())]));
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
