/**
 * Where the Hugging Face hub's files live on this machine, read the way
 * huggingface_hub reads its environment, so that a model downloaded by the
 * Python tools is found here and one downloaded here is found by them.
 *
 *   HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub;
 *   HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface;
 *   the token file is HF_TOKEN_PATH, else $HF_HOME/token.
 *
 * huggingface_hub expands `~` and `$VAR` in these values, so this does too.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

/** The environment values huggingface_hub treats as "on". */
const TRUE_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

export function envFlag(value: string | undefined): boolean {
  return value !== undefined && TRUE_VALUES.has(value.trim().toUpperCase());
}

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value.trim() : undefined;
}

/** `~` and `$VAR` / `${VAR}` expansion; unknown variables are left as written (as Python's expandvars does). */
export function expandPath(value: string, env: Env = process.env, home: string = os.homedir()): string {
  const out = value.replace(/\$(\w+)|\$\{(\w+)\}/g, (whole, a: string | undefined, b: string | undefined) => {
    const v = env[(a ?? b) as string];
    return v !== undefined ? v : whole;
  });
  return expandHome(out, home);
}

/** A leading `~` means the home folder, as in a shell. */
export function expandHome(value: string, home: string = os.homedir()): string {
  if (value === '~') return home;
  if (value.startsWith('~/') || value.startsWith('~\\')) return path.join(home, value.slice(2));
  return value;
}

export function hfHomeDir(env: Env = process.env, home: string = os.homedir()): string {
  const explicit = nonEmpty(env.HF_HOME);
  if (explicit) return path.resolve(expandPath(explicit, env, home));
  const xdg = nonEmpty(env.XDG_CACHE_HOME);
  const cacheRoot = xdg ? expandPath(xdg, env, home) : path.join(home, '.cache');
  return path.resolve(cacheRoot, 'huggingface');
}

/** The hub cache: the folder holding `models--{org}--{name}` folders. */
export function hubCacheDir(env: Env = process.env, home: string = os.homedir()): string {
  const explicit = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  if (explicit) return path.resolve(expandPath(explicit, env, home));
  return path.join(hfHomeDir(env, home), 'hub');
}

export function tokenFilePath(env: Env = process.env, home: string = os.homedir()): string {
  const explicit = nonEmpty(env.HF_TOKEN_PATH);
  if (explicit) return path.resolve(expandPath(explicit, env, home));
  return path.join(hfHomeDir(env, home), 'token');
}

/**
 * The token huggingface_hub would send: HF_TOKEN (or the legacy
 * HUGGING_FACE_HUB_TOKEN), else the file `huggingface-cli login` saved.
 */
export function readHubToken(env: Env = process.env, home: string = os.homedir()): string | undefined {
  const fromEnv = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (fromEnv) return fromEnv;
  try {
    return nonEmpty(fs.readFileSync(tokenFilePath(env, home), 'utf8'));
  } catch {
    return undefined;
  }
}

export function hubEndpoint(env: Env = process.env): string {
  return (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** HF_HUB_OFFLINE (or the older TRANSFORMERS_OFFLINE), as huggingface_hub reads it. */
export function offlineFromEnv(env: Env = process.env): boolean {
  return envFlag(nonEmpty(env.HF_HUB_OFFLINE) ?? nonEmpty(env.TRANSFORMERS_OFFLINE));
}

/**
 * A repo id as the hub accepts it: `name` or `namespace/name`, letters, digits,
 * `-`, `_`, `.`; no `--` or `..` (the cache uses `--` as its separator), at
 * most 96 characters.
 */
export function isRepoId(value: string): boolean {
  if (value.length === 0 || value.length > 96) return false;
  if (!/^(?:[\w.-]+\/)?[\w.-]+$/.test(value)) return false;
  if (value.includes('--') || value.includes('..') || value.endsWith('.git')) return false;
  return value.split('/').every((part) => /^[\w](?:.*[\w])?$/.test(part));
}

/** A full git commit id: what `snapshots/` folders are named after. */
export function isCommitHash(value: string): boolean {
  return /^[0-9a-f]{40}$/.test(value);
}

/** `facebook/dinov2-small` -> `models--facebook--dinov2-small`. */
export function repoFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

export function repoCacheDir(cacheDir: string, repoId: string): string {
  return path.join(cacheDir, repoFolderName(repoId));
}

export function snapshotDir(cacheDir: string, repoId: string, commit: string): string {
  return path.join(repoCacheDir(cacheDir, repoId), 'snapshots', commit);
}

/**
 * A revision becomes a path under `refs/` (branches such as `refs/pr/1` nest),
 * so it must not climb out of it.
 */
export function checkRevision(revision: string): string | undefined {
  if (revision.trim() === '') return 'the revision is empty';
  if (
    revision.includes('\\') ||
    revision.startsWith('/') ||
    revision.split('/').some((s) => s === '..' || s === '.' || s === '')
  ) {
    return `the revision "${revision}" is not a branch, tag or commit name`;
  }
  return undefined;
}

/** A file name inside a repo (`config.json`, `sub/dir/file`) as a path under a snapshot folder. */
export function repoFilePath(folder: string, file: string): string {
  return path.join(folder, ...file.split('/'));
}
