/** Model resolution: a local folder, the Hugging Face cache, or a download into it. */
export {
  resolveModel,
  MODEL_REQUIRED_FILES,
  MODEL_OPTIONAL_FILES,
  type ResolveModelOptions,
  type ResolvedModel,
  type ModelProgress,
} from './resolve';
export { downloadProgressEvent } from './progress';
export { HubError, type HubErrorCode } from './errors';
export { lookupCache, type CacheLookup } from './cache';
export {
  hubCacheDir,
  hfHomeDir,
  tokenFilePath,
  readHubToken,
  hubEndpoint,
  offlineFromEnv,
  isRepoId,
  isCommitHash,
  repoFolderName,
  repoCacheDir,
  snapshotDir,
  DEFAULT_ENDPOINT,
  DEFAULT_REVISION,
  type Env,
} from './paths';
