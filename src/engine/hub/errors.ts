/**
 * Failures of model resolution. Each is a UserError (printed without a stack
 * trace) whose message says what failed and whose hint says what to do.
 */
import { UserError } from '../../shared/userError';

export type HubErrorCode =
  /** `model_name` is neither a usable folder nor a hub id. */
  | 'model-not-found'
  /** A local folder or cache snapshot lacks files the model needs. */
  | 'model-files-missing'
  /** The weights exist only as `pytorch_model.bin` or sharded safetensors. */
  | 'model-weights-format'
  /** Offline (HF_HUB_OFFLINE) and the cache lacks files. */
  | 'hub-offline'
  /** The hub could not be reached (DNS, refused, reset) and the cache lacks files. */
  | 'hub-unreachable'
  | 'hub-timeout'
  /** 401 / 403: private or gated repo, or a bad token. */
  | 'hub-auth'
  /** 404: wrong repo id, revision or file. */
  | 'hub-not-found'
  | 'hub-server-error'
  /** Any other unexpected HTTP answer (no commit or ETag header, a 4xx we do not know). */
  | 'hub-protocol'
  /** A downloaded file failed its size or sha256 check. */
  | 'download-corrupt';

export class HubError extends UserError {
  constructor(
    message: string,
    hint: string | undefined,
    override readonly code: HubErrorCode,
    /** HTTP status, when the error is an HTTP answer. */
    readonly status?: number,
  ) {
    super(message, hint, code);
    this.name = 'HubError';
  }
}

/** A transport failure (socket closed, reset, timed out) that a retry may cure. */
export class TransferError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'interrupted',
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'TransferError';
  }
}

/** Shown wherever safetensors weights are missing. */
export function safetensorsOnlyHint(source: string): string {
  return (
    'vembed reads only safetensors weights (a pickle file can run code when loaded). Convert once with Python: ' +
    `\`python -c "from transformers import AutoModel; AutoModel.from_pretrained('${source}').save_pretrained('converted-model', safe_serialization=True)"\`, ` +
    'then set model_name to that folder (it will hold config.json and model.safetensors; copy preprocessor_config.json next to them if the original has one).'
  );
}
