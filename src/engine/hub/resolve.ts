/**
 * `model_name` -> a local model folder:
 *   1. an existing folder (relative to `baseDir`) is used as is;
 *   2. else a hub id found complete in the Hugging Face cache is used without
 *      any network request (a `main` that moved on the hub is not noticed:
 *      runs stay reproducible and work offline);
 *   3. else the missing files are downloaded into that cache, in
 *      huggingface_hub's layout, so Python tools find them too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeDirs } from '../../shared/fs/makeDirs';
import {
  blobPath,
  isMarkedMissing,
  isPresentFile,
  linkIntoSnapshot,
  lookupCache,
  markMissing,
  writeRef,
  type CacheLookup,
} from './cache';
import { HubError, safetensorsOnlyHint, TransferError } from './errors';
import { isUnreachable } from './http';
import { withFileLock } from './lock';
import {
  headFile,
  notFoundError,
  resolveUrl,
  type FileMetadata,
  type FileNotFound,
  type FileRef,
  type HubClient,
} from './metadata';
import {
  checkRevision,
  DEFAULT_REVISION,
  expandHome,
  hubCacheDir,
  hubEndpoint,
  isRepoId,
  offlineFromEnv,
  readHubToken,
  repoCacheDir,
  repoFilePath,
  repoFolderName,
  type Env,
} from './paths';
import { fetchBlob } from './transfer';

/** Files a DINOv2 model folder must hold. */
export const MODEL_REQUIRED_FILES: readonly string[] = ['config.json', 'model.safetensors'];
/** Files used when present (the image pipeline has defaults for them). */
export const MODEL_OPTIONAL_FILES: readonly string[] = ['preprocessor_config.json'];

const WEIGHTS_FILE = 'model.safetensors';
const PICKLE_WEIGHTS = 'pytorch_model.bin';
const SHARD_INDEX = 'model.safetensors.index.json';

export interface ModelProgress {
  /** The file inside the repo, e.g. `model.safetensors`. */
  file: string;
  /** Bytes of that file on disk so far (a resumed download starts above 0). */
  done: number;
  /** The file's size, when known. */
  total?: number;
}

export interface ResolveModelOptions {
  /** Folder relative paths are resolved against (default: the working directory). */
  baseDir?: string;
  /** Branch, tag or commit id (default `main`). */
  revision?: string;
  /** Hub address (default HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Access token; `false` sends none (default HF_TOKEN, else the saved login). */
  token?: string | false;
  /** Hub cache folder (default HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Never touch the network (default HF_HUB_OFFLINE). */
  offline?: boolean;
  /** Files that must be present (default MODEL_REQUIRED_FILES). */
  files?: readonly string[];
  /** Files fetched when they exist (default MODEL_OPTIONAL_FILES). */
  optionalFiles?: readonly string[];
  /** Download progress, at most every `progressIntervalMs` per file, plus the last update of each file. */
  onProgress?: (p: ModelProgress) => void;
  progressIntervalMs?: number;
  signal?: AbortSignal;
  /** Milliseconds without data before a request fails (default HF_HUB_DOWNLOAD_TIMEOUT seconds, else 30 s). */
  timeoutMs?: number;
  /** Extra attempts after a cut connection, a timeout or a 5xx (default 5). */
  retries?: number;
  /** First back-off delay, doubled per attempt (default 1000 ms). */
  retryDelayMs?: number;
  /** Environment to read HF_* variables from (default process.env). */
  env?: Env;
  /** Home folder for `~` and the default cache (default os.homedir()). */
  homeDir?: string;
  /** A download lock untouched this long is taken over (default 60 s). */
  staleLockMs?: number;
}

export interface ResolvedModel {
  /** Absolute path of the folder holding config.json, model.safetensors, ... */
  folder: string;
  source: 'local' | 'cache' | 'download';
  /** For hub models. */
  repoId?: string;
  revision?: string;
  commit?: string;
  /** Asked-for files (required and optional) present in `folder`. */
  files: string[];
  /** Files fetched over the network by this call. */
  downloaded: string[];
}

interface Settings {
  baseDir: string;
  revision: string;
  required: readonly string[];
  optional: readonly string[];
  env: Env;
  home: string;
}

export async function resolveModel(nameOrPath: string, options: ResolveModelOptions = {}): Promise<ResolvedModel> {
  const env = options.env ?? process.env;
  const home = options.homeDir ?? os.homedir();
  const required = options.files ?? MODEL_REQUIRED_FILES;
  const s: Settings = {
    baseDir: path.resolve(options.baseDir ?? process.cwd()),
    revision: options.revision?.trim() || DEFAULT_REVISION,
    required,
    optional: (options.optionalFiles ?? MODEL_OPTIONAL_FILES).filter((f) => !required.includes(f)),
    env,
    home,
  };

  const target = classifyName(nameOrPath, s);
  if (target.kind === 'local') return checkLocalFolder(target.folder, s);

  const revisionProblem = checkRevision(s.revision);
  if (revisionProblem)
    throw new HubError(
      `Cannot look up ${target.repoId}: ${revisionProblem}.`,
      'Use a branch (main), a tag or a 40-character commit id.',
      'model-not-found',
    );

  const cacheDir = path.resolve(options.cacheDir ?? hubCacheDir(env, home));
  const lookup = lookupCache(cacheDir, target.repoId, s.revision, s.required, s.optional);
  if (lookup.folder && lookup.commit && lookup.missing.length === 0) {
    return {
      folder: lookup.folder,
      source: 'cache',
      repoId: target.repoId,
      revision: s.revision,
      commit: lookup.commit,
      files: lookup.present,
      downloaded: [],
    };
  }

  const offline = options.offline ?? offlineFromEnv(env);
  const ctx: MissingContext = {
    repoId: target.repoId,
    cacheDir,
    lookup,
    probedFolder: target.probedFolder,
    settings: s,
  };
  if (offline) {
    const because = options.offline !== undefined ? 'offline mode is on' : 'offline mode is on (HF_HUB_OFFLINE)';
    throw missingFilesError(
      ctx,
      'hub-offline',
      because,
      options.offline !== undefined
        ? 'turn offline mode off to let vembed download it'
        : 'unset HF_HUB_OFFLINE to let vembed download it',
    );
  }

  const token = options.token === false ? undefined : (options.token ?? readHubToken(env, home));
  const client: HubClient = {
    endpoint: (options.endpoint ?? hubEndpoint(env)).replace(/\/+$/, ''),
    ...(token ? { token } : {}),
    timeoutMs: options.timeoutMs ?? timeoutFromEnv(env) ?? 30_000,
    retries: options.retries ?? 5,
    retryDelayMs: options.retryDelayMs ?? 1000,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  try {
    return await downloadSnapshot(client, target.repoId, cacheDir, s, options);
  } catch (e) {
    if (e instanceof TransferError) {
      if (e.kind === 'timeout')
        throw missingFilesError(
          ctx,
          'hub-timeout',
          `the hub at ${client.endpoint} did not answer in time (${e.message})`,
          'try again on a better connection',
        );
      const why = isUnreachable(e)
        ? `the hub at ${client.endpoint} cannot be reached (${e.message})`
        : `the download from ${client.endpoint} failed (${e.message})`;
      throw missingFilesError(
        ctx,
        'hub-unreachable',
        why,
        'check the connection or proxy and run again (partial downloads resume)',
      );
    }
    throw e;
  }
}

function timeoutFromEnv(env: Env): number | undefined {
  const v = env.HF_HUB_DOWNLOAD_TIMEOUT?.trim();
  return v && /^\d+(\.\d+)?$/.test(v) && Number(v) > 0 ? Number(v) * 1000 : undefined;
}

type Target = { kind: 'local'; folder: string } | { kind: 'hub'; repoId: string; probedFolder: string };

function classifyName(nameOrPath: string, s: Settings): Target {
  const name = nameOrPath.trim();
  if (name === '') {
    throw new HubError(
      'model_name is empty.',
      'Set it to a hub id such as facebook/dinov2-small or to a model folder.',
      'model-not-found',
    );
  }
  const candidate = path.resolve(s.baseDir, expandHome(name, s.home));
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(candidate);
  } catch {
    stat = undefined;
  }
  if (stat?.isDirectory()) return { kind: 'local', folder: candidate };
  if (stat) {
    throw new HubError(
      `model_name "${name}" is the file ${candidate}, not a model folder.`,
      `Use the folder that holds config.json and model.safetensors${path.basename(candidate) === 'config.json' || path.basename(candidate) === WEIGHTS_FILE ? ` (here ${path.dirname(candidate)})` : ''}.`,
      'model-not-found',
    );
  }
  const looksLikePath =
    path.isAbsolute(name) ||
    name.startsWith('.') ||
    name.startsWith('~') ||
    name.includes('\\') ||
    /^[A-Za-z]:/.test(name) ||
    name.split('/').length > 2;
  if (looksLikePath || !isRepoId(name)) {
    throw new HubError(
      `model_name "${name}" is not a folder (${candidate} does not exist)${looksLikePath ? '' : ' nor a Hugging Face model id'}.`,
      `Use a hub id such as facebook/dinov2-small, or a folder holding config.json and model.safetensors (relative paths are resolved against ${s.baseDir}).`,
      'model-not-found',
    );
  }
  return { kind: 'hub', repoId: name, probedFolder: candidate };
}

function checkLocalFolder(folder: string, s: Settings): ResolvedModel {
  const present = [...s.required, ...s.optional].filter((f) => isPresentFile(repoFilePath(folder, f)));
  const missing = s.required.filter((f) => !present.includes(f));
  if (missing.includes(WEIGHTS_FILE)) weightsFormatCheck(folder, (f) => isPresentFile(path.join(folder, f)), folder);
  if (missing.length > 0) {
    throw new HubError(
      `The model folder ${folder} lacks ${missing.join(', ')}.`,
      'A model folder holds config.json and model.safetensors (as written by save_pretrained or a vembed checkpoint). Point model_name at such a folder, or at a hub id such as facebook/dinov2-small.',
      'model-files-missing',
    );
  }
  return { folder, source: 'local', files: present, downloaded: [] };
}

/** Throws the safetensors-only message when the weights exist in a form vembed does not read. */
function weightsFormatCheck(where: string, exists: (file: string) => boolean, source: string): void {
  if (exists(PICKLE_WEIGHTS)) {
    throw new HubError(
      `${where} has its weights only as ${PICKLE_WEIGHTS}; vembed reads only ${WEIGHTS_FILE}.`,
      safetensorsOnlyHint(source),
      'model-weights-format',
    );
  }
  if (exists(SHARD_INDEX)) {
    throw new HubError(
      `${where} has its weights split into shards (${SHARD_INDEX}); vembed reads a single ${WEIGHTS_FILE}.`,
      `Save the model as one file with Python: \`AutoModel.from_pretrained('${source}').save_pretrained('merged-model', max_shard_size='100GB')\`, then set model_name to that folder.`,
      'model-weights-format',
    );
  }
}

interface MissingContext {
  repoId: string;
  cacheDir: string;
  lookup: CacheLookup;
  probedFolder: string;
  settings: Settings;
}

/** The offline / unreachable message: the model, the missing files, where we looked, how to get them. */
function missingFilesError(
  ctx: MissingContext,
  code: 'hub-offline' | 'hub-unreachable' | 'hub-timeout',
  because: string,
  remedy: string,
): HubError {
  const { repoId, cacheDir, lookup, settings } = ctx;
  const rev = settings.revision === DEFAULT_REVISION ? '' : ` --revision ${settings.revision}`;
  const revText = settings.revision === DEFAULT_REVISION ? '' : ` at revision ${settings.revision}`;
  const alsoPickle =
    lookup.folder && isPresentFile(path.join(lookup.folder, PICKLE_WEIGHTS))
      ? ` (the cache holds ${PICKLE_WEIGHTS}, which vembed does not read)`
      : '';
  const message =
    `Model ${repoId}${revText} is not available: ${because}, and the cache lacks ${lookup.missing.join(', ')}${alsoPickle}. ` +
    `Looked in the Hugging Face cache ${cacheDir} (${lookup.state}) and for a local folder ${ctx.probedFolder} (not found).`;
  const hint =
    `On a machine with internet run \`huggingface-cli download ${repoId}${rev}\` (or \`hf download ${repoId}${rev}\`), then copy the folder ` +
    `${repoFolderName(repoId)} from that machine's cache (~/.cache/huggingface/hub) into ${cacheDir}; ` +
    `or ${remedy}; or set model_name to a local folder holding config.json and model.safetensors.`;
  return new HubError(message, hint, code);
}

function lockPath(cacheDir: string, repoId: string, etag: string): string {
  return path.join(cacheDir, '.locks', repoFolderName(repoId), `${etag}.vembed.lock`);
}

function throttled(
  onProgress: ((p: ModelProgress) => void) | undefined,
  file: string,
  intervalMs: number,
): ((done: number, total: number | undefined) => void) | undefined {
  if (!onProgress) return undefined;
  let last = -Infinity;
  return (done, total) => {
    const now = Date.now();
    const finished = total !== undefined && done >= total;
    if (!finished && now - last < intervalMs) return;
    last = now;
    onProgress({ file, done, ...(total !== undefined ? { total } : {}) });
  };
}

/**
 * Ask the hub about every file first (so a wrong id or a missing weights file
 * fails before a long download), pinning all files to the commit the first
 * one resolved to; then fetch the blobs that are not cached yet.
 */
async function downloadSnapshot(
  client: HubClient,
  repoId: string,
  cacheDir: string,
  s: Settings,
  options: ResolveModelOptions,
): Promise<ResolvedModel> {
  const repoDir = repoCacheDir(cacheDir, repoId);
  const metas = new Map<string, FileMetadata>();
  let commit: string | undefined;

  for (const file of [...s.required, ...s.optional]) {
    const ref: FileRef = { repoId, revision: commit ?? s.revision, file };
    if (commit && !s.required.includes(file) && isMarkedMissing(repoDir, commit, file)) continue;
    const answer = await headFile(client, ref);
    if ('notFound' in answer) {
      commit ??= answer.commit;
      await handleNotFound(client, answer, ref, s, repoDir, commit);
      continue;
    }
    commit ??= answer.commit;
    metas.set(file, answer);
  }
  if (!commit)
    throw new HubError(
      `The hub gave no commit for ${repoId}.`,
      `Check HF_ENDPOINT (now ${client.endpoint}).`,
      'hub-protocol',
    );
  for (const [file, meta] of metas) {
    // Fetch by commit, not by branch: the branch may move between the HEAD and the GET.
    if (meta.downloadUrl.href === resolveUrl(client.endpoint, { repoId, revision: s.revision, file }).href) {
      metas.set(file, { ...meta, downloadUrl: resolveUrl(client.endpoint, { repoId, revision: commit, file }) });
    }
  }

  const folder = path.join(repoDir, 'snapshots', commit);
  const downloaded: string[] = [];
  makeDirs(path.join(repoDir, 'blobs'));
  for (const [file, meta] of metas) {
    const pointer = repoFilePath(folder, file);
    if (isPresentFile(pointer)) continue;
    const blob = blobPath(repoDir, meta.etag);
    if (!isPresentFile(blob)) {
      await withFileLock(
        lockPath(cacheDir, repoId, meta.etag),
        async () => {
          if (isPresentFile(blob)) return; // another process finished it while we waited
          const incompletePath = `${blob}.incomplete`;
          const onBytes = throttled(options.onProgress, file, options.progressIntervalMs ?? 100);
          await fetchBlob(client, {
            ref: { repoId, revision: commit as string, file },
            url: meta.downloadUrl,
            etag: meta.etag,
            ...(meta.size !== undefined ? { size: meta.size } : {}),
            incompletePath,
            ...(onBytes ? { onBytes } : {}),
          });
          fs.renameSync(incompletePath, blob);
          downloaded.push(file);
        },
        {
          ...(client.signal ? { signal: client.signal } : {}),
          ...(options.staleLockMs !== undefined ? { staleMs: options.staleLockMs } : {}),
        },
      );
    }
    linkIntoSnapshot(blob, pointer);
  }
  // Last, so that a ref never names a snapshot that is still being filled.
  writeRef(repoDir, s.revision, commit);

  const present = [...s.required, ...s.optional].filter((f) => isPresentFile(repoFilePath(folder, f)));
  return {
    folder,
    source: downloaded.length > 0 ? 'download' : 'cache',
    repoId,
    revision: s.revision,
    commit,
    files: present,
    downloaded,
  };
}

async function handleNotFound(
  client: HubClient,
  nf: FileNotFound,
  ref: FileRef,
  s: Settings,
  repoDir: string,
  commit: string | undefined,
): Promise<void> {
  if (nf.errorCode === 'RepoNotFound' || nf.errorCode === 'RevisionNotFound') throw notFoundError(nf, ref, client);
  if (!s.required.includes(ref.file)) {
    if (commit) markMissing(repoDir, commit, ref.file);
    return;
  }
  if (ref.file === WEIGHTS_FILE) {
    const found = new Set<string>();
    for (const alt of [PICKLE_WEIGHTS, SHARD_INDEX]) {
      const r = await headFile(client, { ...ref, file: alt });
      if (!('notFound' in r)) found.add(alt);
    }
    weightsFormatCheck(`The hub repo ${ref.repoId}`, (f) => found.has(f), ref.repoId);
  }
  throw notFoundError(nf, ref, client);
}
