/**
 * The committed demo model (models/vembed-tiny): it is a loadable DINOv2
 * folder with the architecture and input size its card states, small enough
 * to commit, honestly labelled, and it embeds the sample images as a trained
 * retrieval model should (views of one product closer than other products).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { activateBackend } from '../../../src/engine/backend/ladder';
import { tf } from '../../../src/engine/backend/tf';
import { ImageLoader } from '../../../src/engine/image/loader';
import { loadImageEncoder, type Dinov2ImageEncoder } from '../../../src/engine/model';

const ROOT = path.resolve(__dirname, '../../..');
const MODEL = path.join(ROOT, 'models/vembed-tiny');
const SAMPLE = path.join(ROOT, 'data/sample-sop');
const SHIPPED = ['README.md', 'config.json', 'embedding_head.json', 'model.safetensors', 'preprocessor_config.json'];

/** The first `products` test products of the sample set, 5 views each: [path, product] pairs. */
function testViews(products: number): Array<[string, number]> {
  const lines = fs.readFileSync(path.join(SAMPLE, 'Ebay_test.txt'), 'utf8').trim().split('\n').slice(1);
  const rows = lines.map((l) => l.split(' ')).map((f) => [path.join(SAMPLE, f[3]!), Number(f[1])] as [string, number]);
  const ids = [...new Set(rows.map((r) => r[1]))].slice(0, products);
  return rows.filter((r) => ids.includes(r[1]));
}

let encoder: Dinov2ImageEncoder;
before(async () => {
  await activateBackend('wasm');
  encoder = await loadImageEncoder(MODEL);
});
after(() => encoder?.dispose());

describe('models/vembed-tiny', () => {
  test('holds exactly the model files and its card, under 8 MB in all', () => {
    assert.deepEqual(fs.readdirSync(MODEL).sort(), SHIPPED);
    const bytes = SHIPPED.reduce((n, f) => n + fs.statSync(path.join(MODEL, f)).size, 0);
    assert.ok(bytes < 8e6, `${bytes} bytes`);
  });

  test('its card says plainly that it is not DINOv2 and points to facebook/dinov2-small', () => {
    const card = fs.readFileSync(path.join(MODEL, 'README.md'), 'utf8');
    assert.match(card, /\*\*This is not DINOv2\.\*\*/);
    assert.match(card, /model_name: facebook\/dinov2-small/);
    assert.match(card, /npx tsx scripts\/demo-model\/build\.ts/);
  });

  test('loads as a DINOv2 model of the stated size, with an 84 px input', () => {
    assert.equal(encoder.config.modelType, 'dinov2');
    assert.equal(encoder.config.hiddenSize, 192);
    assert.equal(encoder.config.numHiddenLayers, 4);
    assert.equal(encoder.config.patchSize, 14);
    assert.equal(encoder.config.imageSize, 84);
    assert.equal(encoder.processing.imageSize, 84);
    assert.equal(encoder.embeddingDim, 192);
  });

  test('views of one sample product are closer to each other than to other products', async () => {
    const views = testViews(8);
    const loader = new ImageLoader({ processing: encoder.processing, numWorkers: 0 });
    let sims: number[][];
    try {
      const batch = await loader.load(views.map(([p]) => ({ path: p, transform: { kind: 'eval' as const } })));
      sims = tf.tidy(() => {
        const x = tf.tensor4d(batch.data, [batch.n, batch.height, batch.width, 3]);
        const e = encoder.embed(x);
        const unit = tf.div(e, tf.norm(e, 2, 1, true));
        return tf.matMul(unit, tf.transpose(unit)).arraySync() as number[][];
      });
    } finally {
      await loader.close();
    }
    assert.equal(sims.length, 40);
    let same = 0;
    let nSame = 0;
    let other = 0;
    let nOther = 0;
    for (let i = 0; i < sims.length; i++) {
      for (let j = 0; j < sims.length; j++) {
        if (i === j) continue;
        assert.ok(Number.isFinite(sims[i]![j]!));
        if (views[i]![1] === views[j]![1]) {
          same += sims[i]![j]!;
          nSame++;
        } else {
          other += sims[i]![j]!;
          nOther++;
        }
      }
    }
    // Measured gap (mean cosine, same product minus other products) on these 40 images: 0.36 for the
    // committed model (0.33 vs -0.03); 0.05 for the same architecture with random weights (0.70 vs 0.66).
    assert.ok(
      same / nSame - other / nOther > 0.2,
      `mean cosine: same product ${(same / nSame).toFixed(3)}, other products ${(other / nOther).toFixed(3)}`,
    );
  });
});
