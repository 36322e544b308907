import { randomUUID } from 'node:crypto'

// Lower-case letters, digits and '-' in '/'-separated segments: no dots (so no '..'), no
// empty segment (so no leading, trailing or doubled '/'), nothing a shell, URL or file
// system treats specially. S3 caps keys at 1024 bytes.
const KEY_PATTERN = /^[a-z0-9][a-z0-9-]*(?:\/[a-z0-9][a-z0-9-]*)*$/
const MAX_KEY_LENGTH = 1024

/** Where every key newBlobKey() makes lives; a bucket may hold other things beside it. */
export const BLOB_KEY_PREFIX = 'blobs/'

// Exactly what newBlobKey() makes: a v4 UUID under a fan-out of its own first byte.
const OWN_KEY_PATTERN =
  /^blobs\/([0-9a-f]{2})\/\1[0-9a-f]{6}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/**
 * A fresh storage key, `blobs/<2 hex>/<uuid>`. The fan-out prefix is the UUID's own first
 * byte, so no directory holds more than about 1/256 of the blobs and a key can be found from
 * its UUID alone.
 */
export function newBlobKey(): string {
  const id = randomUUID()
  return `${BLOB_KEY_PREFIX}${id.slice(0, 2)}/${id}`
}

/**
 * Whether newBlobKey() could have made `key`. Listings report only such keys, so whatever
 * else shares the bucket or directory, even under the prefix, is never taken for an orphan.
 */
export function isOwnBlobKey(key: string): boolean {
  return OWN_KEY_PATTERN.test(key)
}

/** Throws unless `key` has the shape of a key this server generates. */
export function assertBlobKey(key: string): void {
  if (key.length > MAX_KEY_LENGTH || !KEY_PATTERN.test(key)) {
    throw new Error(`Invalid blob key: ${JSON.stringify(key.slice(0, 100))}`)
  }
}
