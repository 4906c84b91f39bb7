/**
 * The whole model's hand-written backward pass (one tape node per layer)
 * against tfjs' automatic differentiation of a textbook DINOv2 written here
 * with plain tf ops, on the tiny plain and SwiGLU fixtures, at a size that
 * resizes the position embeddings. Loss = sum(embedding * R) for a fixed R.
 *
 * Tolerance: max |diff| <= 1e-4 * max(1, max |grad|) per variable (measured:
 * below 2e-6 relative).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { tf, type Tensor, type Tensor2D, type Tensor4D, type Variable } from '../../../src/engine/backend/tf';
import {
  loadImageEncoder,
  mlpHiddenSize,
  type Dinov2Config,
  type Dinov2ImageEncoder,
  type FinetuneMode,
} from '../../../src/engine/model';
import { gridResizeMatrix } from '../../../src/engine/model/interpolate';
import { FIXTURES, fixtureInputs, pixels, take, useWasm } from './helpers';

before(useWasm);

interface LoraRef {
  a: Variable;
  b: Variable;
  scale: number;
}

/** A textbook DINOv2 (no registers) with autodiff: CLS-pooled output [n, D]. */
function textbookDinov2(
  x: Tensor4D,
  vars: Map<string, Variable>,
  lora: Map<string, LoraRef>,
  c: Dinov2Config,
): Tensor2D {
  const v = (name: string): Variable => {
    const t = vars.get(name);
    if (!t) throw new Error(`no ${name}`);
    return t;
  };
  const lin = (h: Tensor, p: string, bias = true): Tensor => {
    let y: Tensor = tf.matMul(h as Tensor2D, v(`${p}.weight`));
    if (bias) y = tf.add(y, v(`${p}.bias`));
    const l = lora.get(p);
    if (l) y = tf.add(y, tf.mul(tf.matMul(tf.matMul(h as Tensor2D, l.a), l.b), l.scale));
    return y;
  };
  const ln = (h: Tensor, p: string): Tensor => {
    const { mean, variance } = tf.moments(h, -1, true);
    return tf.add(
      tf.mul(tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, c.layerNormEps))), v(`${p}.weight`)),
      v(`${p}.bias`),
    );
  };
  const [n, H, W] = x.shape;
  const p = c.patchSize;
  const gh = H / p;
  const gw = W / p;
  const D = c.hiddenSize;
  const heads = c.numAttentionHeads;
  const dh = D / heads;
  const patches = tf.reshape(tf.transpose(tf.reshape(x, [n * gh, p, gw, p * 3]), [0, 2, 1, 3]), [
    n * gh * gw,
    p * p * 3,
  ]);
  const emb = tf.reshape(lin(patches, 'embeddings.patch_embeddings.projection'), [n, gh * gw, D]);
  const pos = tf.reshape(v('embeddings.position_embeddings'), [-1, D]);
  const side = Math.round(Math.sqrt(pos.shape[0]! - 1));
  const grid = tf.matMul(
    tf.tensor2d(gridResizeMatrix(side, side, gh, gw, false), [gh * gw, side * side]),
    tf.slice(pos, [1, 0], [side * side, D]),
  );
  const posAll = tf.concat([tf.slice(pos, [0, 0], [1, D]), grid], 0);
  let h: Tensor = tf.add(tf.concat([tf.tile(v('embeddings.cls_token'), [n, 1, 1]), emb], 1), posAll);
  const T = 1 + gh * gw;
  h = tf.reshape(h, [n * T, D]);
  const split = (t: Tensor): Tensor =>
    tf.reshape(tf.transpose(tf.reshape(t, [n, T, heads, dh]), [0, 2, 1, 3]), [n * heads, T, dh]);
  for (let i = 0; i < c.numHiddenLayers; i++) {
    const L = `encoder.layer.${i}`;
    const a = ln(h, `${L}.norm1`);
    const q = split(lin(a, `${L}.attention.attention.query`, c.qkvBias));
    const k = split(lin(a, `${L}.attention.attention.key`, c.qkvBias));
    const val = split(lin(a, `${L}.attention.attention.value`, c.qkvBias));
    const probs = tf.softmax(tf.mul(tf.matMul(q as never, k as never, false, true), 1 / Math.sqrt(dh)));
    const ctx = tf.reshape(tf.transpose(tf.reshape(tf.matMul(probs, val as never), [n, heads, T, dh]), [0, 2, 1, 3]), [
      n * T,
      D,
    ]);
    h = tf.add(h, tf.mul(lin(ctx, `${L}.attention.output.dense`), v(`${L}.layer_scale1.lambda1`)));
    const m = ln(h, `${L}.norm2`);
    let f: Tensor;
    if (c.useSwigluFfn) {
      const [x1, x2] = tf.split(lin(m, `${L}.mlp.weights_in`), 2, 1);
      f = lin(tf.mul(tf.mul(x1!, tf.sigmoid(x1!)), x2!), `${L}.mlp.weights_out`);
    } else {
      const g = lin(m, `${L}.mlp.fc1`);
      f = lin(tf.mul(tf.mul(g, 0.5), tf.add(1, tf.erf(tf.mul(g, Math.SQRT1_2)))), `${L}.mlp.fc2`);
    }
    h = tf.add(h, tf.mul(f, v(`${L}.layer_scale2.lambda1`)));
  }
  const out = tf.reshape(ln(h, 'layernorm'), [n, T, D]);
  return tf.reshape(tf.slice(out, [0, 0, 0], [n, 1, D]), [n, D]);
}

function compareGradients(encoder: Dinov2ImageEncoder, x: Tensor4D, lora: Map<string, LoraRef>): number {
  const trainable = encoder.trainableVariables();
  const vars = [...trainable.values()];
  const r = tf.randomNormal([x.shape[0], encoder.embeddingDim], 0, 1, 'float32', 11);
  const mine = tf.variableGrads(() => tf.sum(tf.mul(encoder.embed(x), r)) as never, vars);
  const ref = tf.variableGrads(
    () => tf.sum(tf.mul(textbookDinov2(x, encoder.baseVariables(), lora, encoder.config), r)) as never,
    vars,
  );
  assert.ok(Math.abs(take(mine.value)[0]! - take(ref.value)[0]!) < 1e-4, 'loss values differ');
  let worst = 0;
  for (const [name, variable] of trainable) {
    const a = take(mine.grads[variable.name]!);
    const b = take(ref.grads[variable.name]!);
    let scale = 1;
    let diff = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(b[i]!));
      diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    }
    worst = Math.max(worst, diff / scale);
    assert.ok(diff <= 1e-4 * scale, `${name}: gradient differs by ${diff} (scale ${scale})`);
  }
  r.dispose();
  return worst;
}

describe('whole-model gradients equal automatic differentiation of a textbook DINOv2', () => {
  const cases: Array<[string, string, FinetuneMode]> = [
    ['plain', 'full fine-tuning (every parameter, position embeddings through the resize)', { kind: 'full' }],
    ['swiglu', 'full fine-tuning with SwiGLU and no qkv bias', { kind: 'full' }],
    [
      'plain',
      'LoRA on query/key/value/dense and fc1 (dropout 0)',
      {
        kind: 'lora',
        settings: { r: 3, alpha: 6, dropout: 0, targetModules: ['query', 'key', 'value', 'dense', 'fc1'] },
      },
    ],
  ];
  for (const [variant, label, finetune] of cases) {
    test(`${variant}: ${label}`, async () => {
      const encoder = await loadImageEncoder(path.join(FIXTURES, variant), { finetune, seed: 4 });
      const x = pixels(fixtureInputs().get('larger')!);
      try {
        const lora = new Map<string, LoraRef>();
        if (finetune.kind === 'lora') {
          const s = finetune.settings;
          const vars = encoder.trainableVariables();
          for (const modulePath of encoder.loraModules()) {
            const b = vars.get(`${modulePath}.lora_B.weight`)!;
            b.assign(tf.tidy(() => tf.randomNormal(b.shape, 0, 0.3, 'float32', 3)));
            lora.set(modulePath, { a: vars.get(`${modulePath}.lora_A.weight`)!, b, scale: s.alpha / s.r });
          }
        }
        const worst = compareGradients(encoder, x, lora);
        assert.ok(worst < 1e-4, `worst relative difference ${worst}`);
        assert.ok(mlpHiddenSize(encoder.config) > 0);
      } finally {
        x.dispose();
        encoder.dispose();
      }
    });
  }
});
