/**
 * Config IntelliSense in a real VS Code: diagnostics appear as soon as a
 * broken config is opened (no command), a quick fix renames the misspelt key,
 * and the Problems panel clears.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findTools, markedProcesses, waitFor, withVsCode } from './harness';

const CONFIG = ['model_name: "facebook/dinov2-small"', 'learning_rte: 1e-4', 'epochs: 2', ''].join('\n');

const tools = findTools();
const skip =
  typeof tools === 'string' && process.env.VEMBED_E2E_REQUIRED !== '1' ? `e2e tools not installed (${tools})` : false;

test('diagnostics as the file opens; a quick fix clears them', { skip, timeout: 180_000 }, async () => {
  let marker = '';
  await withVsCode(
    { name: 'intellisense', workspace: { files: { 'sop_i2i.yaml': CONFIG } } },
    async ({ workbench, page, marker: m }) => {
      marker = m;
      await workbench.openFile('sop_i2i.yaml');
      const problems = await waitFor(
        () => workbench.problems(),
        (p) => p.length >= 1,
        'the misspelt key in the Problems panel',
        60_000,
      );
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.equal(problems[0]!.line, 2);
      assert.match(problems[0]!.message, /learning_rte.*learning_rate/);

      // Put the cursor on the problem (F8), then apply the preferred quick fix.
      await page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();
      await page.keyboard.press('F8');
      await page.keyboard.press('Escape');
      await workbench.runCommand('Auto Fix...');
      await waitFor(
        () => workbench.editorText(),
        (t) => /learning_rate: 1e-4/.test(t),
        'the key renamed in the editor',
        30_000,
      );
      await waitFor(
        () => workbench.problemCounts(),
        (c) => c.errors === 0 && c.warnings === 0,
        'the problems to clear',
        30_000,
      );
      await workbench.screenshot('intellisense-fixed');
    },
  );
  assert.deepEqual(markedProcesses(marker), [], 'processes outlived the session');
});
