/**
 * Fetch one blob into `blobs/{etag}.incomplete`, resuming what an earlier
 * attempt (or an earlier run) left there, and check it before anything else
 * may use it.
 *
 * Resuming sends `Range: bytes=N-` where N is the size on disk. A 206 whose
 * Content-Range starts elsewhere, or a 200 (a server that ignores Range),
 * restarts the file from zero. What arrived before a cut connection is
 * flushed to disk, so the next attempt asks only for the rest.
 */
import { once } from 'node:events';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { HubError, TransferError } from './errors';
import { delay, header, isRedirect, MAX_REDIRECTS, redirectTarget, send, wrapTransportError } from './http';
import { failureFromResponse, hubHeaders, isRetryableStatus, isSha256, type FileRef, type HubClient } from './metadata';

export interface BlobFetch {
  ref: FileRef;
  url: URL;
  etag: string;
  /** From the HEAD; when absent, taken from the GET's headers. */
  size?: number;
  incompletePath: string;
  onBytes?: (done: number, total: number | undefined) => void;
}

/** An attempt that moved this many bytes gets the full retry budget back. */
const PROGRESS_RESETS_RETRIES = 1 << 20;

function sizeOnDisk(p: string): number {
  try {
    return fs.statSync(p).size;
  } catch {
    return 0;
  }
}

function parseContentRange(value: string | undefined): { start: number; total?: number } | undefined {
  const m = value ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim()) : null;
  if (!m) return undefined;
  return { start: Number(m[1]), ...(m[3] !== '*' ? { total: Number(m[3]) } : {}) };
}

/** GET following redirects (absolute or relative); the token goes only to the hub's own host. */
async function openGet(
  client: HubClient,
  startUrl: URL,
  offset: number,
): Promise<{ res: http.IncomingMessage; url: URL }> {
  let url = startUrl;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers = hubHeaders(client, url);
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await send({
      method: 'GET',
      url,
      headers,
      timeoutMs: client.timeoutMs,
      ...(client.signal ? { signal: client.signal } : {}),
    });
    if (!isRedirect(res.statusCode ?? 0)) return { res, url };
    res.resume();
    url = redirectTarget(res, url);
  }
  throw new HubError(
    `more than ${MAX_REDIRECTS} redirects while downloading ${startUrl.href}`,
    `Check HF_ENDPOINT (now ${client.endpoint}).`,
    'hub-protocol',
  );
}

/** Append the body to `file`; what arrived is flushed even when the connection breaks. */
async function appendBody(
  res: http.IncomingMessage,
  file: string,
  truncate: boolean,
  url: URL,
  client: HubClient,
  onChunk: (n: number) => void,
): Promise<void> {
  const out = fs.createWriteStream(file, { flags: truncate ? 'w' : 'a' });
  let failure: unknown;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (!out.write(chunk)) await once(out, 'drain');
      onChunk(chunk.length);
    }
  } catch (e) {
    failure = e;
  }
  await new Promise<void>((resolve, reject) => {
    out.end((err?: Error | null) => (err ? reject(err) : resolve()));
  });
  if (failure !== undefined) throw wrapTransportError(failure, url, client.signal);
}

async function sha256Of(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>)
    hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Bring `incompletePath` to the complete, checked content of the blob. On a
 * failed check the partial file is deleted (resuming from corrupt bytes would
 * never succeed) and a HubError is thrown.
 */
export async function fetchBlob(client: HubClient, job: BlobFetch): Promise<void> {
  let size = job.size;
  let retriesLeft = client.retries;
  let attempt = 0;
  for (;;) {
    let offset = sizeOnDisk(job.incompletePath);
    if (size !== undefined && offset > size) {
      fs.truncateSync(job.incompletePath, 0);
      offset = 0;
    }
    if (size !== undefined && offset === size) {
      if (size === 0) fs.closeSync(fs.openSync(job.incompletePath, 'a'));
      break;
    }
    let moved = 0;
    try {
      const { res, url } = await openGet(client, job.url, offset);
      const status = res.statusCode ?? 0;
      let truncate = false;
      if (status === 206) {
        const range = parseContentRange(header(res, 'content-range'));
        if (!range || range.start !== offset) {
          res.resume();
          fs.truncateSync(job.incompletePath, 0);
          throw new TransferError(
            `${url.host} sent bytes from ${range?.start ?? '?'} when asked from ${offset}`,
            'interrupted',
          );
        }
        size ??= range.total;
      } else if (status === 200) {
        // The server ignored Range (or none was sent): the body is the whole file.
        truncate = offset > 0;
        offset = 0;
        const length = header(res, 'content-length');
        if (size === undefined && length !== undefined && /^\d+$/.test(length)) size = Number(length);
      } else if (status === 416 && offset > 0) {
        res.resume();
        fs.truncateSync(job.incompletePath, 0);
        throw new TransferError(`${url.host} refused the range from byte ${offset}`, 'interrupted');
      } else if (isRetryableStatus(status) && retriesLeft > 0) {
        res.resume();
        throw new TransferError(`${url.host} answered ${status}`, 'interrupted');
      } else {
        throw await failureFromResponse(res, job.ref, url, client);
      }
      job.onBytes?.(offset, size);
      let done = offset;
      await appendBody(res, job.incompletePath, truncate, url, client, (n) => {
        done += n;
        moved += n;
        job.onBytes?.(done, size);
      });
      const now = sizeOnDisk(job.incompletePath);
      if (size === undefined || now === size) {
        size ??= now;
        break;
      }
      if (now > size) {
        fs.rmSync(job.incompletePath, { force: true });
        throw new HubError(
          `${job.ref.file} of ${job.ref.repoId} came out ${now} bytes long, the hub said ${size}.`,
          'Run again to download it afresh; if it keeps happening, a proxy is altering the download.',
          'download-corrupt',
        );
      }
      throw new TransferError(`${url.host} closed the connection after ${now} of ${size} bytes`, 'interrupted');
    } catch (e) {
      if (!(e instanceof TransferError) || e.kind === 'network') throw e;
      if (moved >= PROGRESS_RESETS_RETRIES) retriesLeft = client.retries;
      if (retriesLeft <= 0) throw e;
      retriesLeft--;
      await delay(client.retryDelayMs * Math.min(8, 2 ** attempt), client.signal);
      attempt++;
    }
  }

  if (isSha256(job.etag)) {
    const actual = await sha256Of(job.incompletePath);
    if (actual !== job.etag) {
      fs.rmSync(job.incompletePath, { force: true });
      throw new HubError(
        `${job.ref.file} of ${job.ref.repoId} failed its integrity check: sha256 ${actual}, the hub announced ${job.etag}. The corrupt download was deleted.`,
        'Run again to download it afresh; if it keeps happening, a proxy or a disk problem is altering the file.',
        'download-corrupt',
      );
    }
  }
}
