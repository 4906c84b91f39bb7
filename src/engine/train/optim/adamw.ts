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
 *
 * The update is one pass per parameter in JavaScript over float32 arrays in
 * this process's memory (the moments live there, not in the backend): a
 * dozen TF.js kernels per parameter, each a pass over memory, cost the demo
 * model's step more than its arithmetic (79 parameters, ~1,000 kernel calls:
 * 40-65 ms with clipping, against 20-30 ms for the loop, on the 2-core test
 * machine under load), and moments outside the wasm heap leave its 4 GB to
 * activations. Clipping's factor is applied here too, as each gradient is
 * read (optim/clip.ts). Each element is computed in double precision and stored
 * as float32, as torch stores its float32 moments and weights. A backend
 * whose tensors live elsewhere (a GPU) pays one read of the gradients and
 * weights and one write of the weights a step.
 */
import { tf, type Variable } from '../../backend/tf';
import { gradientValues, type Gradient } from '../gradients';
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
  expAvg: Float32Array;
  expAvgSq: Float32Array;
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
   * gradients (the caller keeps ownership; they are not changed); a name
   * missing from it is skipped. `gradScale`: a float32 factor the gradients
   * are multiplied by first, each product rounded to float32 (clipping's,
   * optim/clip.ts: what torch's in-place clipping leaves in the gradients).
   */
  step(grads: Map<string, Gradient>, lr: number, gradScale = 1): void {
    if (!Number.isFinite(lr) || lr < 0)
      throw new Error(`AdamW: learning rate must be a finite number >= 0, got ${lr}.`);
    if (!(gradScale > 0 && gradScale <= 1)) throw new Error(`AdamW: gradScale must be in (0, 1], got ${gradScale}.`);
    for (const name of grads.keys()) {
      if (!this.params.has(name))
        throw new Error(`AdamW: got a gradient for '${name}', which is not one of the optimizer's parameters.`);
    }
    for (const [name, param] of this.params) {
      const grad = grads.get(name);
      if (grad === undefined) continue;
      const wrong =
        grad instanceof Float32Array
          ? grad.length !== param.size && `${grad.length} values`
          : grad.shape.join() !== param.shape.join() && `shape [${grad.shape}]`;
      if (wrong) throw new Error(`AdamW: gradient for '${name}' has ${wrong} but the parameter is [${param.shape}].`);
      const st = this.stateFor(name, param);
      st.step += 1;
      // A read-back is a copy on every backend but cpu, whose dataSync hands out its own storage: updated in place
      // (a new array a step would cost the demo model's step ~5 ms of page faults), after a copy on cpu.
      const values = param.dataSync() as Float32Array;
      const p = tf.getBackend() === 'cpu' ? values.slice() : values;
      this.update(p, gradientValues(grad), gradScale, st, lr, this.decays(name) ? 1 - lr * this.weightDecay : 1);
      tf.tidy(() => param.assign(tf.tensor(p, param.shape, 'float32')));
    }
  }

  /** One parameter's update: `p` and the moments in place (`g` read, scaled by `scale`). */
  private update(p: Float32Array, g: Float32Array, scale: number, st: LiveState, lr: number, decay: number): void {
    const { beta1, beta2, eps } = this;
    const stepSize = lr / (1 - beta1 ** st.step);
    const inverseBiasCorrection2Sqrt = 1 / Math.sqrt(1 - beta2 ** st.step);
    const m = st.expAvg;
    const v = st.expAvgSq;
    const keep1 = 1 - beta1;
    const keep2 = 1 - beta2;
    for (let i = 0, n = p.length; i < n; i++) {
      const gi = Math.fround(g[i]! * scale); // exact when scale is 1
      // The moments as stored (float32), as torch's update reads them.
      const mi = Math.fround(beta1 * m[i]! + keep1 * gi);
      const vi = Math.fround(beta2 * v[i]! + keep2 * gi * gi);
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) * inverseBiasCorrection2Sqrt + eps);
    }
  }

  /** A copy of the state. */
  exportState(): OptimizerState {
    const params = new Map<string, ParamState>();
    for (const [name, st] of this.state) {
      params.set(name, {
        step: st.step,
        shape: [...this.params.get(name)!.shape],
        // Copies: the live moments change with the next step.
        expAvg: Float32Array.from(st.expAvg),
        expAvgSq: Float32Array.from(st.expAvgSq),
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
        expAvg: Float32Array.from(ps.expAvg),
        expAvgSq: Float32Array.from(ps.expAvgSq),
      });
    }
  }

  /** Drop the moments (the parameters belong to the encoder). */
  dispose(): void {
    this.disposeState();
  }

  private disposeState(): void {
    this.state.clear();
  }

  private stateFor(name: string, param: Variable): LiveState {
    let st = this.state.get(name);
    if (!st) {
      st = { step: 0, expAvg: new Float32Array(param.size), expAvgSq: new Float32Array(param.size) };
      this.state.set(name, st);
    }
    return st;
  }
}
