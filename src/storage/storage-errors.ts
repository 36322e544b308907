import { AppError } from '../errors.js'

/** The key stays on the error, for the log; a client is never told where bytes are kept. */
export class BlobNotFoundError extends AppError {
  constructor(readonly key: string) {
    super('blob_not_found', 404, "The file's content is missing")
  }
}

/** The store failed or timed out after its retries: the client may try again later. */
export class StorageUnavailableError extends AppError {
  constructor(message = 'The file store is unavailable', options?: { cause?: unknown }) {
    super('storage_unavailable', 503, message, { 'retry-after': '5' })
    if (options?.cause) this.cause = options.cause
  }
}

/**
 * The store has no room left (a full disk, a quota): unlike unavailability, retrying soon
 * will not help.
 */
export class InsufficientStorageError extends AppError {
  constructor(options?: { cause?: unknown }) {
    super('insufficient_storage', 507, 'The file store is out of space')
    if (options?.cause) this.cause = options.cause
  }
}

/**
 * A caller broke the appendable-blob contract (appendable-blob-store.ts): a block of the
 * wrong length, an index out of range, a completion naming blocks never written. A bug in
 * the caller, never the client's doing, hence a 500.
 */
export class InvalidAppendError extends AppError {
  constructor(message: string) {
    super('invalid_append', 500, message)
  }
}

/**
 * The append a handle names is gone: aborted, completed, or removed as abandoned by the
 * reconciler. Its blocks cannot be recovered; the upload has to start again.
 */
export class AppendNotFoundError extends AppError {
  constructor(readonly key: string) {
    super('append_not_found', 404, 'The upload in progress is gone')
  }
}
