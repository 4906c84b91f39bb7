/**
 * A webview's page from one of the bundles in dist/webview (`main`: the
 * results panel, `compare`: Compare Runs), under panelHtml.ts's strict CSP,
 * with the webview locked down: scripts from the bundle only, no forms, no
 * command links, local resources from the given folders only.
 */
import * as vscode from 'vscode';
import { buildPanelHtml, makeNonce } from './panelHtml';

export type WebviewBundle = 'main' | 'compare';

/** The folder of the webview bundles (a local resource root every page needs). */
export function webviewBundleDir(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
}

/** The webview options every page of this extension uses; `roots`: where its local resources may come from. */
export function lockedDownOptions(roots: readonly vscode.Uri[]): vscode.WebviewOptions {
  return { enableScripts: true, enableForms: false, enableCommandUris: false, localResourceRoots: roots };
}

/** Load `bundle`'s page into `webview` (a fresh nonce each time). */
export function loadWebviewPage(
  webview: vscode.Webview,
  extensionUri: vscode.Uri,
  bundle: WebviewBundle,
  title: string,
): void {
  const dist = webviewBundleDir(extensionUri);
  webview.html = buildPanelHtml({
    cspSource: webview.cspSource,
    nonce: makeNonce(),
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, `${bundle}.js`)).toString(),
    styleUri: webview.asWebviewUri(vscode.Uri.joinPath(dist, `${bundle}.css`)).toString(),
    title,
  });
}
