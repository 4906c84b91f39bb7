// The README's demo section is what `npm run demo` measured: rendered from docs/demo-results.json (which the demo
// wrote, `npm run readme:demo` copied) by the code that prints the demo's table. Nothing in it is typed by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  BLOCK_END,
  BLOCK_START,
  DEMO_RESULTS,
  readDemoResults,
  renderDemoBlock,
  withDemoBlock,
} from '../../scripts/readme-demo';

const root = path.resolve(__dirname, '../..');
const readme = () => fs.readFileSync(path.join(root, 'README.md'), 'utf8');

const results = () => {
  const file = path.join(root, DEMO_RESULTS);
  assert.ok(fs.existsSync(file), `${DEMO_RESULTS} is missing: run \`npm run demo\`, then \`npm run readme:demo\``);
  return readDemoResults(file);
};

test('the README demo block equals its rendering from docs/demo-results.json', () => {
  const r = results();
  const text = readme();
  const start = text.indexOf(BLOCK_START);
  const end = text.indexOf(BLOCK_END);
  assert.ok(start >= 0 && end > start, 'README.md has no demo block');
  assert.equal(
    text.slice(start, end + BLOCK_END.length),
    renderDemoBlock(r),
    'the README is stale: run `npm run readme:demo` after `npm run demo`',
  );
});

test('the results file is the demo of the README: three seeds of examples/demo_i2i.yaml, each benchmarked', () => {
  const r = results();
  assert.equal(r.config, 'examples/demo_i2i.yaml');
  assert.deepEqual(r.seeds, [42, 1, 2]);
  assert.deepEqual(
    r.afters.map((a) => [a.seed, a.label]),
    r.seeds.map((s) => [s, `seed ${s}`]),
  );
  // The demo's table and the sweep's summary describe the same runs (the sweep: val evaluations in training).
  const sweep = (r as unknown as { sweep: { seeds: number[]; spread: unknown[] } }).sweep;
  assert.deepEqual(sweep.seeds, r.seeds);
});

test('rendering replaces only the block', () => {
  const text = `intro\n${BLOCK_START}\nold\n${BLOCK_END}\noutro\n`;
  assert.equal(
    withDemoBlock(text, `${BLOCK_START}\nnew\n${BLOCK_END}`),
    `intro\n${BLOCK_START}\nnew\n${BLOCK_END}\noutro\n`,
  );
  assert.throws(() => withDemoBlock('no markers', 'x'), /has no demo block/);
});
