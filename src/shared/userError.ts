/**
 * Failures a user can act on (bad config, missing file, wrong model folder):
 * the message says what and where, the hint what to do; printed without a
 * stack trace. Defined here, at the bottom of the layers, because every layer
 * raises them: file helpers, artifact readers, the engine's data and model
 * code, and the CLI that prints them.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
    readonly code = 'user-error',
    readonly file?: string,
    readonly line?: number,
  ) {
    super(message);
  }
}
