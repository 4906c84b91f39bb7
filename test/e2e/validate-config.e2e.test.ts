/**
 * "vembed: Validate Config" in a real VS Code: a config with a misspelt key
 * and a wrong type must show both errors in the Problems panel, as squiggles
 * and in the status bar, at the right lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findTools, markedProcesses, waitFor, withVsCode } from './harness';

const BROKEN_CONFIG = [
  'model_name: "facebook/dinov2-small"',
  'learning_rte: 1e-4', // misspelt key, line 2
  'batch_size: "big"', // wrong type, line 3
  'epochs: 2',
  '',
].join('\n');

// Run by scripts/e2e/run.mjs (which sets VEMBED_E2E_REQUIRED=1 after the set-up);
// elsewhere, without the tools installed, the test is skipped rather than failed.
const tools = findTools();
const skip =
  typeof tools === 'string' && process.env.VEMBED_E2E_REQUIRED !== '1' ? `e2e tools not installed (${tools})` : false;

test('Validate Config shows the config errors in the Problems panel', { skip, timeout: 180_000 }, async (t) => {
  let marker = '';
  await withVsCode(
    { name: 'validate-config', workspace: { files: { 'broken_i2i.yaml': BROKEN_CONFIG } } },
    async ({ workbench, timings, marker: m }) => {
      marker = m;
      t.diagnostic(`start-up: ${JSON.stringify(timings)}`);
      await workbench.openFile('broken_i2i.yaml');
      assert.match(await workbench.editorText(), /learning_rte: 1e-4/);

      await workbench.runCommand('vembed: Validate Config');

      const counts = await waitFor(
        () => workbench.problemCounts(),
        (c) => c.errors >= 2,
        'two errors in the status bar',
      );
      assert.deepEqual(counts, { errors: 2, warnings: 0 });

      const problems = await waitFor(
        () => workbench.problems(),
        (p) => p.length >= 2,
        'two rows in the Problems panel',
      );
      assert.equal(problems.length, 2, `Problems panel rows: ${JSON.stringify(problems)}`);
      const byLine = new Map(problems.map((p) => [p.line, p]));
      const typo = byLine.get(2);
      assert.ok(typo, `no problem on line 2 (learning_rte): ${JSON.stringify(problems)}`);
      assert.equal(typo.severity, 'error');
      assert.equal(typo.source, 'vembed');
      assert.match(typo.message, /learning_rte/);
      assert.match(typo.message, /learning_rate/, 'the misspelt key gets a "did you mean"');
      const wrongType = byLine.get(3);
      assert.ok(wrongType, `no problem on line 3 (batch_size): ${JSON.stringify(problems)}`);
      assert.equal(wrongType.severity, 'error');
      assert.match(wrongType.message, /batch_size/);
      assert.match(wrongType.message, /integer/);

      const squiggles = await waitFor(
        () => workbench.squiggles(),
        (s) => s.errors >= 2,
        'two error squiggles',
      );
      assert.equal(squiggles.errors, 2);
      const toasts = await waitFor(
        () => workbench.notifications(),
        (n) => n.some((m) => m.includes('broken_i2i.yaml')),
        'the validation notification',
      );
      assert.ok(
        toasts.some((m) => /2 error/.test(m)),
        `notifications: ${JSON.stringify(toasts)}`,
      );

      t.diagnostic(`screenshot: ${await workbench.screenshot('validate-config')}`);
    },
  );

  assert.deepEqual(markedProcesses(marker), [], 'code-server or Chromium processes outlived the session');
});
