import { StorageUnavailableError } from './storage-errors.js'

// NoSuchKey from GetObject; HEAD responses carry no body, so the SDK can only say NotFound.
export function isNotFound(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name
  return name === 'NoSuchKey' || name === 'NotFound'
}

/** A multipart upload already aborted or completed. */
export function isNoSuchUpload(error: unknown): boolean {
  return (error as { name?: unknown } | undefined)?.name === 'NoSuchUpload'
}

export function unavailable(error: unknown): StorageUnavailableError {
  return error instanceof StorageUnavailableError
    ? error
    : new StorageUnavailableError(undefined, { cause: error })
}
