/**
 * Hand-written backward passes on top of tf.customGrad.
 *
 * A "step" is a forward computation that returns its output together with a
 * function computing the backward pass. Steps compose: a transformer block
 * is a chain of steps run as one custom op, so the gradient tape holds one
 * node per block instead of hundreds. That matters because tfjs keeps every
 * intermediate gradient on the tape alive until the whole backward pass ends
 * (measured: 3.9 GB of live tensors for one DINOv2-small LoRA step at batch
 * 4 with op-level nodes), and the wasm heap stops at 4 GB.
 *
 * The steps (steps/, and the blocks in dinov2.ts) take the op's `StepScope`
 * first, then their weights, then their input: `layerNormStep(s, norm, eps, x)`.
 *
 * Tensors the backward pass reads are registered with `Saved.keep` during the
 * forward pass and handed to customGrad's `save` (never captured by closures:
 * the forward runs inside tidies that dispose its intermediates). Parameters
 * are read from their Variables, which no tidy disposes; so a Variable must not
 * be assigned between a forward pass and its backward pass. Only trainable
 * Variables (`Variable.trainable`) become inputs of an op and get gradients.
 */
import { tf, type Tensor, type Tensor2D, type Variable } from '../backend/tf';

export type Save = (tensors: Tensor[]) => void;
/** The op's forward value, and its backward pass: the output's gradient to one gradient per input. */
export type OpBody<Y extends Tensor> = (
  inputs: Tensor[],
  save: Save,
) => { value: Y; gradFunc: (dy: Y, saved: Tensor[]) => Tensor[] };

/**
 * Wrap `body` as one custom-gradient op over `inputs` (which customGrad wants
 * as positional arguments, its save function last: the one place that meets
 * customGrad's untyped signature).
 */
export function customOp<Y extends Tensor>(inputs: Tensor[], body: OpBody<Y>): Y {
  const op = tf.customGrad(((...args: unknown[]) => {
    const save = args[args.length - 1] as Save;
    return body(args.slice(0, -1) as Tensor[], save);
  }) as never) as unknown as (...xs: Tensor[]) => Y;
  return op(...inputs);
}

/**
 * The tensors a forward pass keeps for its backward pass. `keep` returns a
 * handle that yields the kept tensor during the backward pass (customGrad
 * hands back copies, not the originals). The same tensor kept twice is
 * stored once.
 */
export class Saved {
  private readonly tensors: Tensor[] = [];
  private readonly index = new Map<number, number>();
  private restored: Tensor[] | null = null;

  keep<T extends Tensor>(t: T): () => T {
    let i = this.index.get(t.id);
    if (i === undefined) {
      i = this.tensors.push(t) - 1;
      this.index.set(t.id, i);
    }
    const at = i;
    return () => {
      if (!this.restored) throw new Error('internal: a saved tensor was read before the backward pass');
      return this.restored[at] as T;
    };
  }

  /** Whether `t` is kept (a step may free an intermediate early only if it is not). */
  holds(t: Tensor): boolean {
    return this.index.has(t.id);
  }

  list(): Tensor[] {
    return this.tensors;
  }

  restore(saved: Tensor[]): void {
    this.restored = saved;
  }
}

/** Parameter gradients collected during a backward pass, summed per Variable. */
export class ParamGrads {
  private readonly grads = new Map<Variable, Tensor>();

  add(v: Variable, g: Tensor): void {
    const prev = this.grads.get(v);
    this.grads.set(v, prev ? tf.add(prev, g) : g);
  }

  take(v: Variable): Tensor {
    return this.grads.get(v) ?? tf.zerosLike(v);
  }
}

/**
 * Run one step's backward computation in a tidy of its own, so that its
 * temporaries are freed as soon as it returns rather than at the end of the
 * whole op (a layer's backward pass otherwise holds every temporary of every
 * piece at once: ~0.5 GB for DINOv2-small at 8 images). Parameter gradients
 * go through `add` and reach `grads` after the tidy. Returns the input's gradient.
 */
export function scopedBackward<DX extends Tensor>(
  grads: ParamGrads,
  body: (add: (v: Variable, g: Tensor) => void) => DX,
): DX {
  const vars: Variable[] = [];
  const { dx, gs } = tf.tidy(() => {
    const gs: Tensor[] = [];
    const dx = body((v, g) => {
      vars.push(v);
      gs.push(g);
    });
    return { dx, gs };
  });
  gs.forEach((g, i) => grads.add(vars[i]!, g));
  return dx;
}

/** What a forward pass needs besides tensors and weights. */
export interface StepContext {
  /** Turns on LoRA dropout. */
  training: boolean;
  /**
   * Recompute the attention probabilities in the backward pass instead of
   * keeping them (n·H·T² floats a layer, the largest thing a layer keeps):
   * less memory for ~4% more time.
   */
  recomputeAttention?: boolean;
  /** Dropout seed of the adapter with the given index (only asked when training). */
  dropoutSeed(adapterIndex: number): number;
}

/** No dropout, probabilities kept: for the stand-alone ops and inference. */
export const INFERENCE: StepContext = { training: false, dropoutSeed: () => 0 };

/**
 * What the steps of one custom op share: the run's settings, the tensors kept
 * for the backward pass and the parameter gradients it collects.
 */
export interface StepScope extends StepContext {
  saved: Saved;
  grads: ParamGrads;
}

/**
 * A forward computation with its hand-written backward pass: the output `y`,
 * and `back`, which maps the gradient of `y` to the gradient of the step's
 * input (`DX`: one tensor, or a tuple or record when the step reads several).
 * Parameter gradients go to the scope's ParamGrads.
 */
export interface Step<DX = Tensor2D, Y extends Tensor = Tensor2D> {
  y: Y;
  back: (dy: Y) => DX;
}

/**
 * Run a step over several input tensors as one custom op. `params` are every
 * Variable the step uses (the trainable ones become op inputs and get
 * gradients). The backward pass runs in a tidy, so its intermediates are
 * freed as soon as it returns.
 */
export function stepOpN<XS extends Tensor[], Y extends Tensor>(
  inputs: [...XS],
  params: readonly Variable[],
  ctx: StepContext,
  build: (xs: XS, scope: StepScope) => Step<XS, Y>,
): Y {
  const trainable = params.filter((p) => p.trainable);
  return customOp<Y>([...inputs, ...trainable], (xs, save) => {
    const scope: StepScope = {
      training: ctx.training,
      recomputeAttention: ctx.recomputeAttention,
      dropoutSeed: (index) => ctx.dropoutSeed(index),
      saved: new Saved(),
      grads: new ParamGrads(),
    };
    // customGrad hands the inputs back in order; their shapes and ranks are those of `inputs`.
    const step = build(xs.slice(0, inputs.length) as XS, scope);
    save(scope.saved.list());
    return {
      value: step.y,
      gradFunc: (dy, kept) =>
        tf.tidy(() => {
          scope.saved.restore(kept);
          const dxs = step.back(dy);
          // Nothing reads this op's saved tensors again; tfjs would keep them until the whole backward pass ends.
          for (const t of kept) t.dispose();
          return [...dxs, ...trainable.map((p) => scope.grads.take(p))];
        }),
    };
  });
}

/** `stepOpN` for a step over one input tensor, whose `back` returns that input's gradient. */
export function stepOp<X extends Tensor, Y extends Tensor>(
  x: X,
  params: readonly Variable[],
  ctx: StepContext,
  build: (x: X, scope: StepScope) => Step<X, Y>,
): Y {
  return stepOpN<[X], Y>([x], params, ctx, ([input], scope) => {
    const step = build(input, scope);
    return { y: step.y, back: (dy) => [step.back(dy)] };
  });
}
