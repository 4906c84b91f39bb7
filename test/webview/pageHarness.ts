/**
 * Runs the results panel's page in headless Chromium the way VS Code would:
 * the same HTML and Content-Security-Policy as the extension builds, served
 * from a real HTTP server on 127.0.0.1 (standing in for the webview's resource
 * origin), with a stand-in `acquireVsCodeApi` (harness/harness.js) whose
 * messages go to a real PanelSession in the test process, and back.
 */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { HostMessage } from '../../src/shared/panelProtocol';
import { buildPanelHtml, makeNonce } from '../../src/extension/panel/panelHtml';
import { PanelSession } from '../../src/extension/panel/panelSession';
import type { SearchImageHook } from '../../src/extension/panel/panelSearch';
import { ThumbnailCache } from '../../src/extension/panel/thumbnails';

const root = path.resolve(__dirname, '../..');
const harnessDir = path.join(__dirname, 'harness');

export const CHROMIUM = '/usr/bin/chromium';

/** Bundle the page like scripts/build.mjs does, into `outDir`. */
export async function buildPage(outDir: string): Promise<void> {
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: 'webview-ui/src/main.ts', compare: 'webview-ui/src/compare.ts' },
    outdir: outDir,
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    loader: { '.css': 'css' },
    logLevel: 'warning',
    legalComments: 'none',
  });
}

export interface PageServer {
  origin: string;
  /** URL of a local file under one of the allowed roots (what `asWebviewUri` gives in VS Code). */
  fileUri(absPath: string): string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.html': 'text/html; charset=utf-8',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
};

/** Serves the panel page, its bundle, the harness, and files under `fileRoots`. */
export async function startServer(distDir: string, fileRoots: string[]): Promise<PageServer> {
  let origin = '';
  const send = (res: http.ServerResponse, file: string) => {
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res
        .writeHead(200, {
          'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
          'cache-control': 'no-store',
        })
        .end(data);
    });
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/panel.html') {
      const nonce = makeNonce();
      const theme = url.searchParams.get('theme') === 'light' ? 'light' : 'dark';
      // `?page=compare`: the compare page (vembed: Compare Runs), served the same way.
      const bundle = url.searchParams.get('page') === 'compare' ? 'compare' : 'main';
      let html = buildPanelHtml({
        cspSource: origin,
        nonce,
        scriptUri: `${origin}/dist/${bundle}.js`,
        styleUri: `${origin}/dist/${bundle}.css`,
        title: 'vembed results',
      });
      // The host's theme variables (VS Code puts them on <html>), then the stand-in API before the page script.
      html = html.replace('</head>', `<link id="theme" rel="stylesheet" href="${origin}/theme-${theme}.css">\n</head>`);
      html = html.replace(
        `<script nonce="${nonce}"`,
        `<script nonce="${nonce}" src="${origin}/harness.js"></script>\n<script nonce="${nonce}"`,
      );
      res.writeHead(200, { 'content-type': TYPES['.html']!, 'cache-control': 'no-store' }).end(html);
    } else if (url.pathname.startsWith('/dist/')) {
      send(res, path.join(distDir, path.basename(url.pathname)));
    } else if (/^\/(harness\.js|theme-(light|dark)\.css)$/.test(url.pathname)) {
      send(res, path.join(harnessDir, url.pathname.slice(1)));
    } else if (url.pathname.startsWith('/files/')) {
      const file = path.resolve(decodeURIComponent(url.pathname.slice('/files/'.length)));
      if (!fileRoots.some((r) => file.startsWith(path.resolve(r) + path.sep))) res.writeHead(403).end();
      else send(res, file);
    } else if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    fileUri: (p) => `${origin}/files/${encodeURIComponent(path.resolve(p))}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh temporary profile (plain `launch` makes one and removes it on close). */
export async function launch(): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1180, height: 900 }, deviceScaleFactor: 1 });
  return {
    browser,
    context,
    close: async () => {
      await context.close();
      await browser.close();
    },
  };
}

/** Post a message to the page as the extension would. Ignored while the page reloads. */
export async function postToPage(page: Page, message: HostMessage): Promise<void> {
  try {
    await page.evaluate((m) => window.postMessage(m, '*'), message);
  } catch (e) {
    if (!/context was destroyed|Target closed|navigation/i.test(String(e))) throw e;
  }
}

/** What the page recorded: messages it posted, CSP violations, uncaught errors. */
export async function pageRecords(
  page: Page,
): Promise<{ posted: { type: string; [k: string]: unknown }[]; violations: string[]; errors: string[] }> {
  return page.evaluate(() => {
    const w = window as unknown as { __posted: { type: string }[]; __violations: string[]; __errors: string[] };
    return { posted: w.__posted, violations: w.__violations, errors: w.__errors };
  });
}

/** A page showing the panel, driven by a real PanelSession. */
export interface ConnectedPanel {
  session: PanelSession;
  /** Files the page asked the host to open. */
  opened: string[];
  /** Console errors and uncaught exceptions of the page. */
  errors: string[];
}

/**
 * Loads panel.html in `page` and wires a real PanelSession to it both ways
 * (thumbnails and scratch files under `tmp`).
 */
export async function connectPanel(
  page: Page,
  server: PageServer,
  tmp: string,
  options: { theme?: 'dark' | 'light'; searchImage?: SearchImageHook } = {},
): Promise<ConnectedPanel> {
  const opened: string[] = [];
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  const session = new PanelSession({
    post: (m) => void postToPage(page, m),
    toWebviewUri: (p) => server.fileUri(p),
    thumbnails: new ThumbnailCache(path.join(tmp, 'thumbs')),
    scratchDir: path.join(tmp, 'scratch'),
    topK: () => 6,
    openFile: (p) => opened.push(p),
    ...(options.searchImage ? { searchImage: options.searchImage } : {}),
    flushMs: 20,
  });
  await page.exposeFunction('__toHost', (m: unknown) => session.handle(m));
  await page.goto(`${server.origin}/panel.html?theme=${options.theme ?? 'dark'}`);
  return { session, opened, errors };
}
