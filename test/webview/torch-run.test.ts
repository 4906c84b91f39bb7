/**
 * A run on the PyTorch engine in the results panel: the header's backend and device come from the
 * run_started event (its `device` line, written by python/vembed_torch), through the run state and
 * the view model to the page.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeEvent, type EngineEvent } from '../../src/shared/protocol';
import { foldRun } from '../../src/shared/runState';
import { initialModel, reduce } from '../../webview-ui/src/state';
import { summary } from '../../webview-ui/src/viewModel';
import { trainingRunEvents } from './fixtures/runFixture';
import { buildPage, connectPanel, launch, startServer, type BrowserSession, type PageServer } from './pageHarness';

const DEVICE = 'PyTorch 2.13.0 NVIDIA H200, 4 processes, bf16 autocast';

/** The fixture run as the torch engine reports it: the same events with its run_started. */
function torchRunEvents(runDir: string): EngineEvent[] {
  return trainingRunEvents({ runDir }).map((e) =>
    e.type === 'run_started' ? makeEvent({ ...e, backend: 'torch', device: DEVICE }, new Date(e.time)) : e,
  );
}

test('the run state and the header summary carry the torch engine and its device line', () => {
  const runDir = '/runs/torch';
  const state = foldRun(torchRunEvents(runDir));
  assert.equal(state.backend, 'torch');
  assert.equal(state.device, DEVICE);
  const model = reduce(initialModel(), {
    type: 'host',
    message: { type: 'run', runDir, title: 'torch', live: false, state, problems: [] },
  });
  const s = summary(model)!;
  assert.equal(s.backend, 'torch');
  assert.equal(s.device, DEVICE);
});

let tmp: string;
let server: PageServer;
let chromium: BrowserSession;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-torch-panel-'));
  const dist = path.join(tmp, 'dist');
  await buildPage(dist);
  server = await startServer(dist, [tmp]);
  chromium = await launch();
});

after(async () => {
  await chromium?.close();
  await server?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the panel shows the torch run: backend torch, the device line as the engine wrote it', async () => {
  const runDir = path.join(tmp, 'output_torch');
  fs.mkdirSync(runDir, { recursive: true });
  const events = torchRunEvents(runDir);
  fs.writeFileSync(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const page = await chromium.context.newPage();
  const { session, errors } = await connectPanel(page, server, tmp);
  await session.openRun(runDir);
  await page.waitForSelector('#run-facts .fact[data-fact="device"]');
  const facts = await page.$$eval('#run-facts .fact', (els) =>
    Object.fromEntries(els.map((e) => [(e as HTMLElement).dataset.fact!, e.querySelector('dd')!.textContent!])),
  );
  assert.equal(facts.backend, 'torch');
  assert.equal(facts.device, DEVICE);
  assert.deepEqual(errors, []);
  await page.close();
});
