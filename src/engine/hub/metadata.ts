/**
 * What the hub says about one file before it is downloaded: a HEAD on
 * `{endpoint}/{repo}/resolve/{revision}/{file}`, as huggingface_hub does.
 *
 * The hub's answer carries `X-Repo-Commit` (the commit the revision resolves
 * to) and an ETag naming the blob: `X-Linked-Etag` / `X-Linked-Size` for LFS
 * files (sha256 of the content and its size; the response itself is a redirect
 * to a CDN whose own ETag means nothing here), else `ETag` (the git sha1) and
 * `Content-Length`. A relative redirect (a renamed repo) is followed; an
 * absolute one is where the content is to be fetched from.
 */
import type * as http from 'node:http';
import { HubError, TransferError } from './errors';
import { delay, header, isRedirect, MAX_REDIRECTS, readSmallBody, redirectTarget, send } from './http';

export interface HubClient {
  endpoint: string;
  token?: string;
  timeoutMs: number;
  /** Extra tries after a 5xx, 429 or a cut connection. */
  retries: number;
  retryDelayMs: number;
  signal?: AbortSignal;
}

export interface FileMetadata {
  commit: string;
  /** Normalised (no quotes, no `W/`): the blob's name in `blobs/`. */
  etag: string;
  /** Bytes, when the hub said. */
  size?: number;
  /** Where to GET the content (the resolve URL, or the CDN it redirects to). */
  downloadUrl: URL;
}

export interface FileNotFound {
  notFound: true;
  /** The hub's `X-Error-Code`: RepoNotFound, RevisionNotFound, EntryNotFound (absent from other servers). */
  errorCode?: string;
  commit?: string;
}

export interface FileRef {
  repoId: string;
  revision: string;
  file: string;
}

export function resolveUrl(endpoint: string, ref: FileRef): URL {
  const file = ref.file.split('/').map(encodeURIComponent).join('/');
  return new URL(`${endpoint}/${ref.repoId}/resolve/${encodeURIComponent(ref.revision)}/${file}`);
}

export function normalizeEtag(value: string): string {
  return value.replace(/^W\//, '').replace(/^"|"$/g, '');
}

export function isSha256(etag: string): boolean {
  return /^[0-9a-f]{64}$/.test(etag);
}

/** Headers for requests to the hub itself; the token never goes to another host. */
export function hubHeaders(client: HubClient, url: URL): Record<string, string> {
  const headers: Record<string, string> = {
    'user-agent': 'vembed (node; hub-download)',
    // The real size, never a compressed one.
    'accept-encoding': 'identity',
  };
  if (client.token && url.host === new URL(client.endpoint).host) headers.authorization = `Bearer ${client.token}`;
  return headers;
}

function isAbsoluteLocation(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(location) || location.startsWith('//');
}

function parseSize(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value.trim());
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

async function headOnce(client: HubClient, ref: FileRef): Promise<FileMetadata | FileNotFound> {
  let url = resolveUrl(client.endpoint, ref);
  let commit: string | undefined;
  let linkedEtag: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await send({
      method: 'HEAD',
      url,
      headers: hubHeaders(client, url),
      timeoutMs: client.timeoutMs,
      ...(client.signal ? { signal: client.signal } : {}),
    });
    res.resume();
    const status = res.statusCode ?? 0;
    commit ??= header(res, 'x-repo-commit');
    const le = header(res, 'x-linked-etag');
    if (le && !linkedEtag) linkedEtag = normalizeEtag(le);
    linkedSize ??= parseSize(header(res, 'x-linked-size'));

    if (isRedirect(status)) {
      const location = header(res, 'location') ?? '';
      const target = redirectTarget(res, url);
      if (!isAbsoluteLocation(location)) {
        url = target;
        continue;
      }
      // Content lives elsewhere (a CDN): the metadata is this answer's.
      const etag = linkedEtag ?? optionalEtag(res);
      return complete(ref, url, { commit, etag, size: linkedSize, downloadUrl: target });
    }
    if (status >= 200 && status < 300) {
      const etag = linkedEtag ?? optionalEtag(res);
      const size = linkedSize ?? parseSize(header(res, 'content-length'));
      return complete(ref, url, { commit, etag, size, downloadUrl: url });
    }
    if (status === 404) {
      const errorCode = header(res, 'x-error-code');
      return { notFound: true, ...(errorCode ? { errorCode } : {}), ...(commit ? { commit } : {}) };
    }
    throw httpFailure(status, res, '', ref, url, client);
  }
  throw new HubError(
    `more than ${MAX_REDIRECTS} redirects for ${ref.file} of ${ref.repoId}`,
    `Check HF_ENDPOINT (now ${client.endpoint}).`,
    'hub-protocol',
  );
}

function optionalEtag(res: http.IncomingMessage): string | undefined {
  const e = header(res, 'etag');
  return e ? normalizeEtag(e) : undefined;
}

function complete(
  ref: FileRef,
  url: URL,
  m: { commit: string | undefined; etag: string | undefined; size: number | undefined; downloadUrl: URL },
): FileMetadata {
  if (!m.commit || !m.etag) {
    throw new HubError(
      `${url.origin} answered for ${ref.file} of ${ref.repoId} without ${!m.commit ? 'an X-Repo-Commit' : 'an ETag'} header, so it is not a Hugging Face hub (or a proxy strips its headers).`,
      'Check HF_ENDPOINT and any proxy in between; or download the model elsewhere and copy it into the cache.',
      'hub-protocol',
    );
  }
  if (!/^[\w.-]+$/.test(m.etag) || !/^[0-9a-f]{40}$/.test(m.commit)) {
    throw new HubError(
      `${url.origin} answered for ${ref.file} with a malformed commit or ETag ("${m.commit}", "${m.etag}").`,
      'Check HF_ENDPOINT.',
      'hub-protocol',
    );
  }
  return {
    commit: m.commit,
    etag: m.etag,
    downloadUrl: m.downloadUrl,
    ...(m.size !== undefined ? { size: m.size } : {}),
  };
}

/**
 * HEAD one file. 404 comes back as `FileNotFound` (the caller knows whether
 * a missing file is fatal); 5xx, 429 and cut connections are retried; other
 * failures throw a HubError or a TransferError.
 */
export async function headFile(client: HubClient, ref: FileRef): Promise<FileMetadata | FileNotFound> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await headOnce(client, ref);
    } catch (e) {
      const retryable =
        (e instanceof HubError && e.status !== undefined && isRetryableStatus(e.status)) ||
        (e instanceof TransferError && (e.kind === 'interrupted' || e.kind === 'timeout'));
      if (!retryable || attempt >= client.retries) throw e;
      await delay(client.retryDelayMs * 2 ** attempt, client.signal);
    }
  }
}

/** A plain-words HubError for an HTTP failure status. */
export function httpFailure(
  status: number,
  res: http.IncomingMessage,
  body: string,
  ref: FileRef,
  url: URL,
  client: HubClient,
): HubError {
  const code = header(res, 'x-error-code');
  const serverText = (header(res, 'x-error-message') ?? jsonError(body) ?? '').trim().replace(/\.+$/, '');
  const said = serverText ? ` The server said: "${serverText}".` : '';
  const page = `${client.endpoint}/${ref.repoId}`;
  if (status === 401 || status === 403) {
    if (code === 'GatedRepo') {
      return new HubError(
        `${ref.repoId} is a gated model: the hub answered ${status} for ${ref.file}.${said}`,
        `Accept its terms on ${page} with your account, then set HF_TOKEN to a read token of that account (${client.endpoint}/settings/tokens) or run \`huggingface-cli login\`.`,
        'hub-auth',
        status,
      );
    }
    const tokenHint = client.token
      ? 'The token that was sent (HF_TOKEN or the saved login) was refused: check that it is valid and can read this repo.'
      : `If the repo is private or gated, set HF_TOKEN to a read token (${client.endpoint}/settings/tokens) or run \`huggingface-cli login\`.`;
    return new HubError(
      `The hub refused access to ${ref.repoId} (${status} for ${ref.file} at revision ${ref.revision}).${said} The repo may not exist, or be private or gated.`,
      `Check the model id (e.g. facebook/dinov2-small). ${tokenHint}`,
      'hub-auth',
      status,
    );
  }
  if (status >= 500) {
    return new HubError(
      `The hub had a server error (${status}) for ${ref.file} of ${ref.repoId}.${said}`,
      'Try again later; or download the model on another machine and copy it into the cache (see HF_HUB_CACHE), or set model_name to a local folder.',
      'hub-server-error',
      status,
    );
  }
  if (status === 429) {
    return new HubError(
      `The hub is rate-limiting requests (429) for ${ref.repoId}.${said}`,
      'Wait a few minutes and try again; a HF_TOKEN raises the limits.',
      'hub-server-error',
      status,
    );
  }
  return new HubError(
    `Unexpected answer ${status} from ${url.host} for ${ref.file} of ${ref.repoId}.${said}`,
    `Check HF_ENDPOINT (now ${client.endpoint}).`,
    'hub-protocol',
    status,
  );
}

function jsonError(body: string): string | undefined {
  try {
    const v = JSON.parse(body) as { error?: unknown };
    return typeof v.error === 'string' ? v.error : undefined;
  } catch {
    return undefined;
  }
}

/** The HubError for a 404 on a file the model cannot do without. */
export function notFoundError(nf: FileNotFound, ref: FileRef, client: HubClient): HubError {
  const page = `${client.endpoint}/${ref.repoId}`;
  switch (nf.errorCode) {
    case 'RepoNotFound':
      return new HubError(
        `There is no model "${ref.repoId}" on ${client.endpoint} (404).`,
        `Check the spelling (e.g. facebook/dinov2-small, facebook/dinov2-base); a private repo also needs HF_TOKEN. Or set model_name to a local folder.`,
        'hub-not-found',
        404,
      );
    case 'RevisionNotFound':
      return new HubError(
        `${ref.repoId} has no revision "${ref.revision}" (404).`,
        `Use a branch, tag or commit id listed on ${page}/tree/main, or leave the revision out for "main".`,
        'hub-not-found',
        404,
      );
    case 'EntryNotFound':
      return new HubError(
        `${ref.repoId} has no file ${ref.file} at revision ${ref.revision} (404).`,
        `Check the files on ${page}/tree/${encodeURIComponent(ref.revision)}; the model needs ${ref.file}.`,
        'hub-not-found',
        404,
      );
    default:
      return new HubError(
        `${resolveUrl(client.endpoint, ref).href} was not found (404): the model id, the revision "${ref.revision}" or the file ${ref.file} is wrong.`,
        `Check the model id (e.g. facebook/dinov2-small) and revision on ${page}.`,
        'hub-not-found',
        404,
      );
  }
}

/** Read a failed response's message and turn it into a HubError. */
export async function failureFromResponse(
  res: http.IncomingMessage,
  ref: FileRef,
  url: URL,
  client: HubClient,
): Promise<HubError> {
  const body = await readSmallBody(res);
  if (res.statusCode === 404) {
    const errorCode = header(res, 'x-error-code');
    return notFoundError({ notFound: true, ...(errorCode ? { errorCode } : {}) }, ref, client);
  }
  return httpFailure(res.statusCode ?? 0, res, body, ref, url, client);
}
