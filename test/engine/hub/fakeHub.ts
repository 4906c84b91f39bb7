/**
 * A real HTTP server on 127.0.0.1 that answers like the Hugging Face hub for
 * a few tiny repos: `/{repo}/resolve/{revision}/{file}` with X-Repo-Commit,
 * ETag (git sha1) for regular files, and for LFS files a 302 to `/cdn/{sha256}`
 * carrying X-Linked-Etag / X-Linked-Size. Switches make it misbehave the ways
 * the client must survive. Every request is logged for the tests to count.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';
import type { ResolveModelOptions } from '../../../src/engine/hub';

export interface FakeFile {
  content: Buffer;
  lfs: boolean;
}

export interface FakeRepo {
  id: string;
  commit: string;
  files: Record<string, FakeFile>;
  /** Requests must carry `Authorization: Bearer {token}`. */
  token?: string;
  gated?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface Behaviour {
  /** How the LFS redirect's Location is written. */
  redirect: 'absolute' | 'relative';
  /** Answer 200 with the whole file to a Range request. */
  ignoreRange: boolean;
  /** The next N CDN GETs send this many body bytes, then the socket is destroyed. */
  cutAfterBytes: number;
  cutsLeft: number;
  /** Serve CDN content with one byte changed (same length). */
  corrupt: boolean;
  /** Answer every resolve request with this status. */
  failStatus?: number;
  /** Never answer resolve requests. */
  hang: boolean;
  /** Redirect LFS files to this origin (another server, as the hub's CDN is another host). */
  cdnBase?: string;
}

export function gitBlobSha1(content: Buffer): string {
  return crypto.createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return crypto.createHash('sha256').update(content).digest('hex');
}

/** Deterministic bytes (a linear congruential generator), so failures reproduce. */
export function pseudoRandomBytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export const COMMIT = 'c0ffee0000000000000000000000000000000001';

/** A DINOv2-shaped repo: small config, a few hundred KB "weights", a preprocessor config. */
export function tinyDinoRepo(id = 'facebook/dinov2-tiny', overrides: Partial<FakeRepo> = {}): FakeRepo {
  return {
    id,
    commit: COMMIT,
    files: {
      'config.json': {
        content: Buffer.from(
          JSON.stringify({ model_type: 'dinov2', hidden_size: 16, num_hidden_layers: 1 }, null, 2) + '\n',
        ),
        lfs: false,
      },
      'model.safetensors': { content: pseudoRandomBytes(300 * 1024, 7), lfs: true },
      'preprocessor_config.json': {
        content: Buffer.from(JSON.stringify({ crop_size: { height: 224, width: 224 } }) + '\n'),
        lfs: false,
      },
    },
    ...overrides,
  };
}

function defaultBehaviour(): Behaviour {
  return { redirect: 'absolute', ignoreRange: false, cutAfterBytes: 0, cutsLeft: 0, corrupt: false, hang: false };
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  readonly behaviour: Behaviour = defaultBehaviour();
  private readonly repos = new Map<string, FakeRepo>();
  private readonly server = http.createServer((req, res) => this.handle(req, res));
  url = '';

  /** Forget the logged requests and behave well again. */
  reset(): void {
    this.requests.length = 0;
    for (const key of Object.keys(this.behaviour) as Array<keyof Behaviour>) delete this.behaviour[key];
    Object.assign(this.behaviour, defaultBehaviour());
  }

  constructor(repos: FakeRepo[]) {
    for (const r of repos) this.repos.set(r.id, r);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  count(predicate: (r: LoggedRequest) => boolean = () => true): number {
    return this.requests.filter(predicate).length;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    if (url.pathname.startsWith('/cdn/')) return this.serveCdn(url.pathname.slice(5), req, res);
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return this.fail(res, 404, undefined, 'no route');
    if (this.behaviour.hang) return; // the client's timeout must fire
    if (this.behaviour.failStatus) return this.fail(res, this.behaviour.failStatus, undefined, 'Internal Error');
    const [, repoId, revEnc, fileEnc] = m as unknown as [string, string, string, string];
    const repo = this.repos.get(repoId);
    if (!repo) return this.fail(res, 404, 'RepoNotFound', 'Repository not found');
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      return repo.gated
        ? this.fail(res, 401, 'GatedRepo', 'Access to model is restricted.')
        : this.fail(res, 401, undefined, 'Invalid username or password.');
    }
    const revision = decodeURIComponent(revEnc);
    if (revision !== 'main' && revision !== repo.commit)
      return this.fail(res, 404, 'RevisionNotFound', 'Invalid rev id');
    const fileName = fileEnc.split('/').map(decodeURIComponent).join('/');
    const file = repo.files[fileName];
    if (!file) {
      res.setHeader('X-Repo-Commit', repo.commit);
      return this.fail(res, 404, 'EntryNotFound', 'Entry not found');
    }
    res.setHeader('X-Repo-Commit', repo.commit);
    if (file.lfs) {
      const sha = sha256(file.content);
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${file.content.length}\n`;
      res.writeHead(302, {
        Location:
          this.behaviour.redirect === 'absolute' ? `${this.behaviour.cdnBase ?? this.url}/cdn/${sha}` : `/cdn/${sha}`,
        ETag: `"${gitBlobSha1(Buffer.from(pointer))}"`,
        'X-Linked-Etag': `"${sha}"`,
        'X-Linked-Size': String(file.content.length),
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    res.writeHead(200, {
      ETag: `"${gitBlobSha1(file.content)}"`,
      'Content-Length': String(file.content.length),
      'Content-Type': 'application/octet-stream',
    });
    res.end(req.method === 'HEAD' ? undefined : file.content);
  }

  private serveCdn(sha: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const found = [...this.repos.values()]
      .flatMap((r) => Object.values(r.files))
      .find((f) => f.lfs && sha256(f.content) === sha);
    if (!found) return this.fail(res, 404, undefined, 'NoSuchKey');
    let content = found.content;
    if (this.behaviour.corrupt) {
      content = Buffer.from(content);
      const mid = content.length >> 1;
      content[mid] = (content[mid] as number) ^ 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = 0;
    if (range && !this.behaviour.ignoreRange) {
      start = Number(range[1]);
      if (start >= content.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${content.length}` });
        res.end();
        return;
      }
      res.writeHead(206, {
        'Content-Range': `bytes ${start}-${content.length - 1}/${content.length}`,
        'Content-Length': String(content.length - start),
        ETag: '"cdn-etag"',
      });
    } else {
      res.writeHead(200, { 'Content-Length': String(content.length), ETag: '"cdn-etag"' });
    }
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const body = content.subarray(start);
    if (this.behaviour.cutsLeft > 0 && this.behaviour.cutAfterBytes < body.length) {
      this.behaviour.cutsLeft--;
      // Let the first part reach the client before the connection dies mid-body.
      res.write(body.subarray(0, this.behaviour.cutAfterBytes), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    res.end(body);
  }

  private fail(res: http.ServerResponse, status: number, errorCode: string | undefined, message: string): void {
    const body = JSON.stringify({ error: message });
    res.writeHead(status, {
      'Content-Type': 'application/json',
      'Content-Length': String(Buffer.byteLength(body)),
      'X-Error-Message': message,
      ...(errorCode ? { 'X-Error-Code': errorCode } : {}),
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}

export interface TempHome {
  root: string;
  home: string;
  cacheDir: string;
  cleanup: () => void;
}

/** A temp folder that stands in for the user's home and cache; never the real ~/.cache. */
export function makeTempHome(): TempHome {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vembed-hub-'));
  const home = path.join(root, 'home');
  const cacheDir = path.join(root, 'hf-cache');
  fs.mkdirSync(home);
  return { root, home, cacheDir, cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
}

/** Every file under `dir`, relative, with '/' separators; symlinks listed as such. */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(e.isSymbolicLink() ? `${r} -> ${fs.readlinkSync(path.join(d, e.name))}` : r);
    }
  };
  walk(dir, '');
  return out.sort();
}

export interface HubFixture {
  readonly hub: FakeHub;
  readonly tmp: TempHome;
  /** resolveModel options pointing at the hub and the test's temporary home and cache. */
  opts(extra?: ResolveModelOptions): ResolveModelOptions;
}

/**
 * A FakeHub serving `repos()` for the tests of one describe block, and for
 * each test a fresh temporary home and cache, an empty request log and the
 * hub's default behaviour. Call it inside the describe.
 */
export function useFakeHub(repos: () => FakeRepo[]): HubFixture {
  let hub: FakeHub | undefined;
  let tmp: TempHome | undefined;
  before(async () => {
    hub = await new FakeHub(repos()).start();
  });
  after(async () => hub?.close());
  beforeEach(() => {
    tmp = makeTempHome();
    hub!.reset();
  });
  afterEach(() => tmp?.cleanup());
  return {
    get hub(): FakeHub {
      if (!hub) throw new Error('the fake hub is used before it started');
      return hub;
    },
    get tmp(): TempHome {
      if (!tmp) throw new Error('the temporary home is used outside a test');
      return tmp;
    },
    opts: (extra = {}) => ({
      endpoint: hub!.url,
      cacheDir: tmp!.cacheDir,
      env: {},
      homeDir: tmp!.home,
      baseDir: tmp!.root,
      retryDelayMs: 10,
      ...extra,
    }),
  };
}
