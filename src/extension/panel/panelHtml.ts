/**
 * The panel's HTML document and its Content-Security-Policy. No `vscode`
 * import: the page tests build the same document and load it in Chromium
 * with the same policy, so a violation shows up there first.
 */
import { randomBytes } from 'node:crypto';

export interface PanelHtmlParts {
  /** `webview.cspSource`: the origin local resources are served from. */
  cspSource: string;
  /** Fresh for every document; only the script carrying it runs. */
  nonce: string;
  /** Webview URIs of dist/webview/main.js and main.css. */
  scriptUri: string;
  styleUri: string;
  title: string;
}

/** 128 random bits, base64: what CSP nonces need. */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/**
 * Nothing by default; the bundled script only through its nonce; styles and
 * images only from the webview's own resource origin (images also as data:
 * URLs, for the preview of a picked file). No connect-src: the page reaches
 * the network in no way, it only talks to the extension through postMessage.
 */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    `default-src 'none'`,
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `base-uri 'none'`,
    `form-action 'none'`,
  ].join('; ');
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

export function buildPanelHtml(p: PanelHtmlParts): string {
  const attr = escapeHtml;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(contentSecurityPolicy(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${attr(p.styleUri)}">
<title>${escapeHtml(p.title)}</title>
</head>
<body>
<div id="root"></div>
<script nonce="${attr(p.nonce)}" src="${attr(p.scriptUri)}"></script>
</body>
</html>
`;
}
