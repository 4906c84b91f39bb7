/**
 * AdamW exactly as torch.optim.AdamW (amsgrad off, maximize off), over the
 * named variables of an encoder.
 *
 * Per parameter with a gradient, at its own step t (counted from 1):
 *   p  <- p * (1 - lr * weight_decay)            (decoupled decay; skipped for excluded names)
 *   m  <- beta1 * m + (1 - beta1) * g
 *   v  <- beta2 * v + (1 - beta2) * g^2
 *   p  <- p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * A parameter that gets no gradient on a step is left alone entirely (no
 * decay, its step count does not advance), as torch does for `grad is None`.
 * Moments are created lazily on a parameter's first gradient, also as torch.
 */
import { tf, type Tensor, type Variable } from '../../backend/tf';
import { isExcludedFromWeightDecay } from './weightDecay';

export interface AdamWOptions {
  /** Decoupled weight decay coefficient (`weight_decay`). */
  weightDecay: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Names that get no decay; default {@link isExcludedFromWeightDecay}. */
  excludeFromDecay?: (name: string) => boolean;
}

/** One parameter's optimizer state, on the CPU, for checkpoints. */
export interface ParamState {
  /** Number of updates this parameter has received. */
  step: number;
  shape: number[];
  expAvg: Float32Array;
  expAvgSq: Float32Array;
}

/** The whole optimizer's state by parameter name; what a checkpoint stores. */
export interface OptimizerState {
  params: Map<string, ParamState>;
}

interface LiveState {
  step: number;
  expAvg: Variable;
  expAvgSq: Variable;
}

/** A non-trainable variable; the tidy frees the initial tensor the variable copied. */
function momentVariable(initial: () => Tensor): Variable {
  return tf.tidy(() => tf.variable(initial(), false));
}

export class AdamW {
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  private readonly decayed: Map<string, boolean>;
  private readonly state = new Map<string, LiveState>();

  constructor(
    private readonly params: Map<string, Variable>,
    options: AdamWOptions,
  ) {
    this.weightDecay = options.weightDecay;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    if (!(this.weightDecay >= 0)) throw new Error(`AdamW: weight_decay must be >= 0, got ${this.weightDecay}.`);
    for (const [key, b] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: ${key} must be in [0, 1), got ${b}.`);
    }
    const exclude = options.excludeFromDecay ?? isExcludedFromWeightDecay;
    this.decayed = new Map([...params.keys()].map((name) => [name, !exclude(name)]));
  }

  /** Whether weight decay applies to the named parameter. */
  decays(name: string): boolean {
    return this.decayed.get(name) ?? false;
  }

  /**
   * Apply one update with learning rate `lr`. `grads` maps parameter names to
   * gradients (the caller keeps ownership); a name missing from it is skipped.
   */
  step(grads: Map<string, Tensor>, lr: number): void {
    if (!Number.isFinite(lr) || lr < 0)
      throw new Error(`AdamW: learning rate must be a finite number >= 0, got ${lr}.`);
    for (const name of grads.keys()) {
      if (!this.params.has(name))
        throw new Error(`AdamW: got a gradient for '${name}', which is not one of the optimizer's parameters.`);
    }
    for (const [name, param] of this.params) {
      const grad = grads.get(name);
      if (grad === undefined) continue;
      if (grad.shape.join() !== param.shape.join()) {
        throw new Error(
          `AdamW: gradient for '${name}' has shape [${grad.shape}] but the parameter is [${param.shape}].`,
        );
      }
      const st = this.stateFor(name, param);
      st.step += 1;
      const biasCorrection1 = 1 - this.beta1 ** st.step;
      const biasCorrection2Sqrt = Math.sqrt(1 - this.beta2 ** st.step);
      const stepSize = lr / biasCorrection1;
      const decayFactor = this.decays(name) ? 1 - lr * this.weightDecay : 1;
      tf.tidy(() => {
        const m = tf.add(tf.mul(st.expAvg, this.beta1), tf.mul(grad, 1 - this.beta1));
        const v = tf.add(tf.mul(st.expAvgSq, this.beta2), tf.mul(tf.square(grad), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), biasCorrection2Sqrt), this.eps);
        const decayed = decayFactor === 1 ? param : tf.mul(param, decayFactor);
        param.assign(tf.sub(decayed, tf.mul(tf.div(m, denom), stepSize)));
        st.expAvg.assign(m);
        st.expAvgSq.assign(v);
      });
    }
  }

  /** A copy of the state on the CPU (reads every moment back from the backend). */
  exportState(): OptimizerState {
    const params = new Map<string, ParamState>();
    for (const [name, st] of this.state) {
      params.set(name, {
        step: st.step,
        shape: [...st.expAvg.shape],
        // Copies: the cpu backend's dataSync hands out its own storage.
        expAvg: new Float32Array(st.expAvg.dataSync()),
        expAvgSq: new Float32Array(st.expAvgSq.dataSync()),
      });
    }
    return { params };
  }

  /**
   * Replace the state with a saved one. Every saved name must be a parameter
   * of this optimizer with the same shape; parameters the saved state lacks
   * start fresh (they had not received a gradient yet).
   */
  importState(saved: OptimizerState): void {
    const problems: string[] = [];
    for (const [name, ps] of saved.params) {
      const param = this.params.get(name);
      const size = ps.shape.reduce((a, b) => a * b, 1);
      if (!param) problems.push(`'${name}' is not a trainable parameter of this model`);
      else if (ps.shape.join() !== param.shape.join())
        problems.push(`'${name}' is [${ps.shape}] in the saved state but [${param.shape}] in the model`);
      else if (ps.expAvg.length !== size || ps.expAvgSq.length !== size)
        problems.push(`'${name}' has moments of the wrong length`);
      else if (!(Number.isInteger(ps.step) && ps.step >= 0))
        problems.push(`'${name}' has an invalid step count ${ps.step}`);
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
      throw new Error(
        `The saved optimizer state does not fit this model: ${shown}. ` +
          'It was written for another model, projection_dim or LoRA setup; resume with the config the checkpoint was trained with.',
      );
    }
    this.disposeState();
    for (const [name, ps] of saved.params) {
      this.state.set(name, {
        step: ps.step,
        expAvg: momentVariable(() => tf.tensor(ps.expAvg, ps.shape, 'float32')),
        expAvgSq: momentVariable(() => tf.tensor(ps.expAvgSq, ps.shape, 'float32')),
      });
    }
  }

  /** Free the moments (the parameters belong to the encoder). */
  dispose(): void {
    this.disposeState();
  }

  private disposeState(): void {
    for (const st of this.state.values()) {
      st.expAvg.dispose();
      st.expAvgSq.dispose();
    }
    this.state.clear();
  }

  private stateFor(name: string, param: Variable): LiveState {
    let st = this.state.get(name);
    if (!st) {
      st = {
        step: 0,
        expAvg: momentVariable(() => tf.zerosLike(param)),
        expAvgSq: momentVariable(() => tf.zerosLike(param)),
      };
      this.state.set(name, st);
    }
    return st;
  }
}
