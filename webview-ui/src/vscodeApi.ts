/** The webview's bridge to the extension (VS Code injects `acquireVsCodeApi`; tests stand in for it). */
import type { PanelMessage, PanelPersistedState } from '../../src/shared/panelProtocol';

export interface VsCodeApi {
  postMessage(message: PanelMessage): void;
  getState(): PanelPersistedState | undefined;
  setState(state: PanelPersistedState): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** May be called once per page load (VS Code's rule). */
export function vscodeApi(): VsCodeApi {
  return acquireVsCodeApi();
}
