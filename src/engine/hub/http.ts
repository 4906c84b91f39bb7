/**
 * The small HTTP client the hub download needs, on Node's own http/https:
 * one request at a time, an idle timeout, abort through an AbortSignal, and
 * redirect handling left to the caller (the hub's metadata lives on the
 * redirect itself, so following it blindly would lose it).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { TransferError } from './errors';

export interface HttpRequest {
  method: 'GET' | 'HEAD';
  url: URL;
  headers: Record<string, string>;
  /** Milliseconds without any byte from the server before giving up. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export const MAX_REDIRECTS = 10;

/** Codes of a connection that never reached the server: the hub is unreachable, not failing. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
]);

export function isUnreachable(e: unknown): boolean {
  return e instanceof TransferError && e.kind === 'network' && UNREACHABLE_CODES.has(errorCode(e.cause) ?? '');
}

function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Send a request and resolve with the response head; the caller consumes (or
 * `resume()`s) the body. The idle timeout keeps running while the body
 * streams, so a stalled transfer errors the response stream.
 */
export function send(req: HttpRequest): Promise<http.IncomingMessage> {
  const client = req.url.protocol === 'https:' ? https : req.url.protocol === 'http:' ? http : undefined;
  if (!client)
    return Promise.reject(
      new TransferError(`unsupported URL scheme in ${req.url.href} (only http and https)`, 'network'),
    );
  return new Promise((resolve, reject) => {
    if (req.signal?.aborted) {
      reject(abortError(req.signal));
      return;
    }
    const r = client.request(req.url, {
      method: req.method,
      headers: req.headers,
      ...(req.signal ? { signal: req.signal } : {}),
    });
    let response: http.IncomingMessage | undefined;
    r.setTimeout(req.timeoutMs, () => {
      const err = new TransferError(`no data from ${req.url.host} for ${formatSeconds(req.timeoutMs)}`, 'timeout');
      // Once the body streams, the error must reach its reader, not only the request.
      response?.destroy(err);
      r.destroy(err);
    });
    r.on('response', (res) => {
      response = res;
      resolve(res);
    });
    r.on('error', (e) => reject(wrapTransportError(e, req.url, req.signal)));
    r.end();
  });
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

/** Turn Node's socket errors into TransferErrors; an abort stays an AbortError. */
export function wrapTransportError(e: unknown, url: URL, signal?: AbortSignal): Error {
  if (signal?.aborted) return abortError(signal);
  if (e instanceof TransferError) return e;
  const code = errorCode(e);
  const text = e instanceof Error ? e.message : String(e);
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT')
    return new TransferError(`connection to ${url.host} timed out`, 'timeout', e);
  if (code !== undefined && UNREACHABLE_CODES.has(code))
    return new TransferError(`cannot reach ${url.host} (${code})`, 'network', e);
  if (code === 'ECONNRESET' || code === 'EPIPE' || text === 'aborted') {
    return new TransferError(`the connection to ${url.host} was cut (${code ?? text})`, 'interrupted', e);
  }
  return new TransferError(`request to ${url.host} failed: ${text}${code ? ` (${code})` : ''}`, 'network', e);
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('the download was cancelled');
  e.name = 'AbortError';
  return e;
}

export function header(res: http.IncomingMessage, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  if (Array.isArray(v)) return v[0];
  return v === undefined || v === '' ? undefined : v;
}

export function isRedirect(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308;
}

/** A `Location` may be absolute or relative to the URL that answered. */
export function redirectTarget(res: http.IncomingMessage, from: URL): URL {
  const location = header(res, 'location');
  if (!location)
    throw new TransferError(`${from.host} answered ${res.statusCode} without a Location header`, 'network');
  return new URL(location, from);
}

/** Read a small body (an error message) without holding on to a large one. */
export async function readSmallBody(res: http.IncomingMessage, limit = 4096): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      parts.push(chunk.subarray(0, limit - size));
      size += chunk.length;
      if (size >= limit) break; // leaving the loop destroys the rest of the body
    }
  } catch {
    // The message is a courtesy; a broken body must not hide the status.
  }
  return Buffer.concat(parts).toString('utf8');
}

/** An abortable sleep (retry back-off, lock polling). */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('cancelled'));
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
