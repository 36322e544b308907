import { AppError } from '../errors.js'

/**
 * Stored bytes or their envelope failed authentication: tampered with, truncated, mixed up
 * with another blob's, or wrapped under a key the ring no longer holds. A server fault (500):
 * the client can do nothing about it, and none of the failed bytes are ever served.
 */
export class BlobIntegrityError extends AppError {
  constructor(key: string, reason: string) {
    super('blob_integrity_error', 500, `Stored content for ${key} failed verification: ${reason}`)
  }
}
