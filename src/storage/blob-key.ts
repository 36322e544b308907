import { randomUUID } from 'node:crypto'

// Lower-case letters, digits and '-' in '/'-separated segments: no dots (so no '..'), no
// empty segment (so no leading, trailing or doubled '/'), nothing a shell, URL or file
// system treats specially. S3 caps keys at 1024 bytes.
const KEY_PATTERN = /^[a-z0-9][a-z0-9-]*(?:\/[a-z0-9][a-z0-9-]*)*$/
const MAX_KEY_LENGTH = 1024

/**
 * A fresh storage key, `blobs/<2 hex>/<uuid>`. The fan-out prefix is the UUID's own first
 * byte, so no directory holds more than about 1/256 of the blobs and a key can be found from
 * its UUID alone.
 */
export function newBlobKey(): string {
  const id = randomUUID()
  return `blobs/${id.slice(0, 2)}/${id}`
}

/** Throws unless `key` has the shape of a key this server generates. */
export function assertBlobKey(key: string): void {
  if (key.length > MAX_KEY_LENGTH || !KEY_PATTERN.test(key)) {
    throw new Error(`Invalid blob key: ${JSON.stringify(key.slice(0, 100))}`)
  }
}
