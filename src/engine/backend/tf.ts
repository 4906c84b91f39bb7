/**
 * The TensorFlow.js namespace the engine computes with.
 *
 * Engine code imports `tf` from here, never `@tensorflow/tfjs-core` directly:
 * when the native backends (`@tensorflow/tfjs-node[-gpu]`) are installed
 * outside our node_modules (the extension installs them on demand into its
 * global storage), they bring their own copy of tfjs-core, and every op must
 * go through that copy. `useTf` switches the namespace once, at start-up.
 */
import * as tfcore from '@tensorflow/tfjs-core';
// tfjs-core's entry point registers forward kernels only; the gradient
// functions (tf.grads, tf.variableGrads) live here. The registry is
// process-global, so this also serves a tfjs-node namespace switched in below.
import '@tensorflow/tfjs-core/dist/register_all_gradients';

export type Tf = typeof tfcore;
export type Tensor = tfcore.Tensor;
export type Scalar = tfcore.Scalar;
export type Rank = tfcore.Rank;
export type Tensor1D = tfcore.Tensor1D;
export type Tensor2D = tfcore.Tensor2D;
export type Tensor3D = tfcore.Tensor3D;
export type Tensor4D = tfcore.Tensor4D;
export type Variable = tfcore.Variable;

let active: Tf = tfcore;

/** Route every `tf.*` call to another tfjs namespace (the one tfjs-node returns). */
export function useTf(namespace: Tf): void {
  active = namespace;
}

/** The bundled tfjs-core, whatever is active. */
export const bundledTf: Tf = tfcore;

/** A live view of the active namespace. */
export const tf: Tf = new Proxy({} as Tf, {
  get(_target, prop) {
    return (active as unknown as Record<string | symbol, unknown>)[prop];
  },
});
