// AdamW against torch.optim.AdamW (test/fixtures/train/adamw.json), the
// weight-decay exclusion rule, and the state round trip for checkpoints.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf, type Tensor, type Variable } from '../../../src/engine/backend/tf';
import { disposeGradients } from '../../../src/engine/train/gradients';
import { AdamW } from '../../../src/engine/train/optim/adamw';
import { isExcludedFromWeightDecay } from '../../../src/engine/train/optim/weightDecay';
import { assertAllClose, loadFixture } from './helpers/numeric';

interface AdamFixture {
  shapes: Record<string, number[]>;
  decayed_with_exclusion: string[];
  weight_decay: number;
  betas: [number, number];
  eps: number;
  lrs: number[];
  skip: Record<string, string>;
  init: Record<string, number[]>;
  grads: Array<Record<string, number[]>>;
  scenarios: Array<{
    name: 'with_exclusion' | 'without_exclusion';
    params_after_step: Array<Record<string, number[]>>;
    final_state: Record<string, { step: number; exp_avg: number[]; exp_avg_sq: number[] }>;
  }>;
}
const fx = loadFixture<AdamFixture>('adamw.json');
// Both sides run float32; torch and tfjs order a few operations differently.
const TOL = { rtol: 1e-5, atol: 1e-7 };

function makeParams(): Map<string, Variable> {
  return new Map(
    Object.entries(fx.init).map(([name, values]) => [name, tf.variable(tf.tensor(values, fx.shapes[name]))]),
  );
}

/** Gradients as TF.js tensors (the TF.js paths) or host values (ONNX Runtime's). */
type GradientForm = 'tensors' | 'host values';

function gradsAt(step: number, form: GradientForm = 'tensors'): Map<string, Tensor | Float32Array> {
  const out = new Map<string, Tensor | Float32Array>();
  for (const [name, values] of Object.entries(fx.grads[step]!)) {
    if (fx.skip[String(step)] !== name)
      out.set(name, form === 'tensors' ? tf.tensor(values, fx.shapes[name]) : Float32Array.from(values));
  }
  return out;
}

function makeOptimizer(params: Map<string, Variable>, scenario: string): AdamW {
  return new AdamW(params, {
    weightDecay: fx.weight_decay,
    beta1: fx.betas[0],
    beta2: fx.betas[1],
    eps: fx.eps,
    ...(scenario === 'without_exclusion' ? { excludeFromDecay: () => false } : {}),
  });
}

function runSteps(opt: AdamW, from: number, to: number, form: GradientForm = 'tensors'): void {
  for (let s = from; s < to; s++) {
    const grads = gradsAt(s, form);
    opt.step(grads, fx.lrs[s]!);
    disposeGradients(grads.values());
  }
}

test('the default rule excludes biases, norms, tokens and LayerScale, and nothing else', () => {
  for (const name of Object.keys(fx.shapes)) {
    assert.equal(isExcludedFromWeightDecay(name), !fx.decayed_with_exclusion.includes(name), name);
  }
  const excluded = [
    'embeddings.cls_token',
    'embeddings.mask_token',
    'embeddings.position_embeddings',
    'embeddings.register_tokens',
    'embeddings.patch_embeddings.projection.bias',
    'encoder.layer.11.norm1.weight',
    'encoder.layer.11.norm2.bias',
    'encoder.layer.3.layer_scale1.lambda1',
    'encoder.layer.3.layer_scale2.lambda1',
    'layernorm.weight',
    'layernorm.bias',
    'blocks.0.ls1.gamma',
  ];
  const decayed = [
    'embeddings.patch_embeddings.projection.weight',
    'encoder.layer.0.attention.attention.query.weight',
    'encoder.layer.0.attention.output.dense.weight',
    'encoder.layer.0.mlp.fc1.weight',
    'encoder.layer.0.mlp.weights_in.weight',
    'encoder.layer.0.attention.attention.value.lora_A.weight',
    'encoder.layer.0.attention.attention.value.lora_B.weight',
    'projection.weight',
  ];
  for (const name of excluded) assert.equal(isExcludedFromWeightDecay(name), true, `${name} should not decay`);
  for (const name of decayed) assert.equal(isExcludedFromWeightDecay(name), false, `${name} should decay`);
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`AdamW on ${backend}`, () => {
    before(async () => {
      await activateBackend(backend);
    });

    for (const [scenario, form] of fx.scenarios.flatMap((sc) =>
      (['tensors', 'host values'] as const).map((f) => [sc, f] as const),
    )) {
      test(`${scenario.name}, gradients as ${form}: every step matches torch.optim.AdamW (rtol ${TOL.rtol}, atol ${TOL.atol})`, () => {
        const params = makeParams();
        const opt = makeOptimizer(params, scenario.name);
        let tensorsAfterFirst = -1;
        for (let s = 0; s < fx.lrs.length; s++) {
          runSteps(opt, s, s + 1, form);
          if (s === 0) tensorsAfterFirst = tf.memory().numTensors;
          for (const [name, v] of params) {
            assertAllClose(
              v.dataSync(),
              scenario.params_after_step[s]![name]!,
              TOL,
              `${scenario.name} step ${s + 1} ${name}`,
            );
          }
        }
        // Moments are created on the first gradient; one was skipped at step 3 but had existed since step 1.
        assert.equal(tf.memory().numTensors, tensorsAfterFirst, 'steps do not leak tensors');
        const state = opt.exportState();
        for (const [name, expected] of Object.entries(scenario.final_state)) {
          const got = state.params.get(name)!;
          assert.equal(got.step, expected.step, `${name} step count`);
          assertAllClose(got.expAvg, expected.exp_avg, TOL, `${name} exp_avg`);
          assertAllClose(got.expAvgSq, expected.exp_avg_sq, TOL, `${name} exp_avg_sq`);
        }
        opt.dispose();
        for (const v of params.values()) v.dispose();
      });
    }

    test("a gradScale is the same update as gradients scaled first (clipping's float32 product), to the bit", () => {
      const scenario = fx.scenarios.find((s) => s.name === 'with_exclusion')!;
      const scale = Math.fround(0.37);
      const scaledParams = makeParams();
      const scaled = makeOptimizer(scaledParams, scenario.name);
      const viaScale = makeParams();
      const withScale = makeOptimizer(viaScale, scenario.name);
      for (let s = 0; s < fx.lrs.length; s++) {
        const host = gradsAt(s, 'host values') as Map<string, Float32Array>;
        const pre = new Map([...host].map(([k, g]) => [k, g.map((x) => Math.fround(x * scale))]));
        scaled.step(pre, fx.lrs[s]!);
        withScale.step(host, fx.lrs[s]!, scale);
      }
      for (const [name, v] of viaScale) assert.deepEqual(v.dataSync(), scaledParams.get(name)!.dataSync(), name);
      assert.throws(() => withScale.step(new Map(), 1e-3, 1.5), /gradScale must be in \(0, 1\], got 1.5/);
      for (const o of [scaled, withScale]) o.dispose();
      for (const v of [...scaledParams.values(), ...viaScale.values()]) v.dispose();
    });

    test('exported state imported into a fresh optimizer continues exactly', () => {
      const scenario = fx.scenarios.find((s) => s.name === 'with_exclusion')!;
      const params = makeParams();
      const first = makeOptimizer(params, scenario.name);
      runSteps(first, 0, 3);
      const saved = first.exportState();
      first.dispose();
      const second = makeOptimizer(params, scenario.name);
      second.importState(saved);
      runSteps(second, 3, fx.lrs.length);
      for (const [name, v] of params) {
        assertAllClose(v.dataSync(), scenario.params_after_step[fx.lrs.length - 1]![name]!, TOL, `resumed ${name}`);
      }
      second.dispose();
      for (const v of params.values()) v.dispose();
    });

    test('a state that does not fit the model is refused with the names', () => {
      const params = makeParams();
      const opt = makeOptimizer(params, 'with_exclusion');
      const wrongShape = {
        params: new Map([
          ['fc1.bias', { step: 1, shape: [5], expAvg: new Float32Array(5), expAvgSq: new Float32Array(5) }],
        ]),
      };
      assert.throws(
        () => opt.importState(wrongShape),
        /'fc1\.bias' is \[5\] in the saved state but \[4\] in the model/,
      );
      const unknown = {
        params: new Map([
          ['lora.weight', { step: 1, shape: [1], expAvg: new Float32Array(1), expAvgSq: new Float32Array(1) }],
        ]),
      };
      assert.throws(
        () => opt.importState(unknown),
        /'lora\.weight' is not a trainable parameter.*resume with the config/,
      );
      const g = new Map([['nope', tf.zeros([1])]]);
      assert.throws(() => opt.step(g, 1e-3), /gradient for 'nope'/);
      tf.dispose([...g.values()]);
      const [name, param] = [...params][0]!;
      assert.throws(
        () => opt.step(new Map([[name, new Float32Array(param.size + 1)]]), 1e-3),
        new RegExp(
          `gradient for '${name.replace(/\./g, '\\.')}' has ${param.size + 1} values but the parameter is \\[${param.shape}\\]`,
        ),
      );
      opt.dispose();
      for (const v of params.values()) v.dispose();
    });
  });
}
