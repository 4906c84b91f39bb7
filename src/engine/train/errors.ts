/** Errors of the training loop that the caller reports to the user as they are. */

/** The loss or the gradient norm came out NaN or infinite; the update was not applied. */
export class NonFiniteTrainingError extends Error {
  override readonly name = 'NonFiniteTrainingError';

  constructor(
    /** The step that failed, numbered like global steps and checkpoints: the first update is step 1. */
    readonly step: number,
    readonly quantity: 'loss' | 'gradient norm',
    readonly value: number,
    readonly context: { learningRate?: number; temperature?: number; lossType?: string } = {},
  ) {
    super(NonFiniteTrainingError.describe(step, quantity, value, context));
  }

  private static describe(
    step: number,
    quantity: string,
    value: number,
    ctx: NonFiniteTrainingError['context'],
  ): string {
    const causes = [
      `the learning rate is too high${ctx.learningRate !== undefined ? ` (this step used ${ctx.learningRate})` : ''}: lower learning_rate or lengthen the warmup (warmup_ratio / warmup_steps)`,
    ];
    if (ctx.lossType === undefined || ctx.lossType === 'infonce') {
      causes.push(
        `the temperature is too low${ctx.temperature !== undefined ? ` (temperature: ${ctx.temperature})` : ''}: try 0.05 or higher`,
      );
    }
    causes.push('clipping is off or too loose: set max_grad_norm (e.g. 1.0)');
    causes.push('the model weights already hold NaN (resumed from a damaged checkpoint?)');
    return `The ${quantity} is ${value} at step ${step}; the update was not applied. Likely causes: ${causes.map((c, i) => `(${i + 1}) ${c}`).join('; ')}.`;
  }
}
