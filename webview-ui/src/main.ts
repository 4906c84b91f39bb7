/**
 * The results panel's page script: wires the VS Code bridge, the state module
 * and the views. State lives in ./state (pure); views read it through
 * ./viewModel and post user intents back as actions.
 */
import 'uplot/dist/uPlot.min.css';
import './panel.css';
import { MAX_THUMBNAILS_PER_REQUEST, type HostMessage, type PanelMessage } from '../../src/shared/panelProtocol';
import { buildLayout, TABS } from './layout';
import { initialModel, persistedState, reduce, wantedResources, type Action, type PanelModel } from './state';
import { watchTheme } from './theme';
import { vscodeApi } from './vscodeApi';
import { AnalysisTab } from './views/analysis';
import { DataHealthTab } from './views/dataHealth';
import { GalleryTab } from './views/gallery';
import { HeaderView } from './views/header';
import { SearchTab } from './views/search';
import { TrainingView } from './views/training';

const vscode = vscodeApi();
let model: PanelModel = initialModel(vscode.getState());
const asked = { thumbnails: new Set<number>(), neighbours: new Set<number>() };

const root = document.getElementById('root');
if (!root) throw new Error('panel page: #root missing');
const tabs = buildLayout(root);

const post = (m: PanelMessage) => vscode.postMessage(m);
const header = new HeaderView();
const training = new TrainingView();
const gallery = new GalleryTab(dispatch, post);
const search = new SearchTab(dispatch, post);
const analysis = new AnalysisTab(dispatch, post);
const dataHealth = new DataHealthTab(post);

let frame = 0;
let lastSaved = '';

/** `now`: render before returning (keyboard navigation: the next key must find the focus moved). */
function dispatch(action: Action, now = false): void {
  const next = reduce(model, action);
  if (next === model) return;
  if (next.gallery !== model.gallery || next.runDir !== model.runDir) {
    // Another gallery or run: indexes asked for before mean other images now.
    asked.thumbnails.clear();
    asked.neighbours.clear();
  }
  model = next;
  const saved = JSON.stringify(persistedState(model));
  if (saved !== lastSaved) {
    lastSaved = saved;
    vscode.setState(persistedState(model));
  }
  if (now) {
    if (frame) cancelAnimationFrame(frame);
    render();
  } else if (!frame) frame = requestAnimationFrame(render);
}

function render(): void {
  frame = 0;
  const tabIndex = TABS.indexOf(model.ui.tab);
  if (tabs.selectedIndex !== tabIndex) tabs.selectedIndex = tabIndex;
  header.update(model);
  training.update(model);
  gallery.update(model);
  search.update(model);
  analysis.update(model);
  dataHealth.update(model);
  fetchWhatIsMissing();
  document.body.dataset.runVersion = String(model.runVersion);
  document.body.dataset.tab = model.ui.tab;
}

/** Ask the host for thumbnails and neighbours the visible views need. */
function fetchWhatIsMissing(): void {
  const want = wantedResources(model, asked);
  want.thumbnails.forEach((i) => asked.thumbnails.add(i));
  for (let i = 0; i < want.thumbnails.length; i += MAX_THUMBNAILS_PER_REQUEST) {
    post({ type: 'requestThumbnails', images: want.thumbnails.slice(i, i + MAX_THUMBNAILS_PER_REQUEST) });
  }
  if (want.neighbours !== null) {
    asked.neighbours.add(want.neighbours);
    post({ type: 'requestNeighbours', query: want.neighbours });
  }
}

tabs.addEventListener('vsc-tabs-select', (e) => {
  const tab = TABS[e.detail.selectedIndex];
  if (tab && tab !== model.ui.tab) dispatch({ type: 'selectTab', tab });
});

window.addEventListener('message', (e: MessageEvent<unknown>) => {
  const data = e.data as HostMessage | null;
  if (typeof data !== 'object' || data === null || typeof (data as { type?: unknown }).type !== 'string') return;
  dispatch({ type: 'host', message: data });
});

// Escape anywhere in the Queries tab closes an open query (focus may be on the page body).
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && model.ui.tab === 'queries' && model.ui.openQuery !== null && !e.defaultPrevented) {
    gallery.close();
  }
});

watchTheme(() => {
  training.retheme();
  analysis.retheme();
});
render();
post({ type: 'ready' });
