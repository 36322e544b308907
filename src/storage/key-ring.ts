import { createHash, createSecretKey, type KeyObject, randomBytes } from 'node:crypto'

export interface MasterKey {
  readonly id: string
  // A KeyObject rather than a Buffer so that logging a config or a ring never prints it.
  readonly secret: KeyObject
}

export interface KeyRing {
  /** Wraps the data keys of new blobs. */
  readonly current: MasterKey
  /** Every key, current included, by id: old ones stay to unwrap blobs written under them. */
  readonly byId: ReadonlyMap<string, MasterKey>
}

const KEY_BYTES = 32
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/
const BASE64_PATTERN = /^[A-Za-z0-9+/_-]+={0,2}$/
const HINT = 'generate one with `openssl rand -base64 32`'

/**
 * Parses ENCRYPTION_KEY: comma-separated entries, each `id:base64key` or a bare `base64key`
 * (its id derived from the key). The last entry is the current key; listing the old ones
 * before it keeps their blobs readable while `rewrapEnvelope` moves them over.
 */
export function parseKeyRing(value: string): KeyRing {
  const entries = value.split(',').map((entry) => entry.trim())
  const byId = new Map<string, MasterKey>()
  entries.forEach((entry, index) => {
    const key = parseEntry(entry, index + 1)
    if (byId.has(key.id)) {
      throw new Error(`ENCRYPTION_KEY: key id "${key.id}" appears more than once`)
    }
    byId.set(key.id, key)
  })
  const current = [...byId.values()].at(-1)!
  return { current, byId }
}

/** A fresh single-key value for ENCRYPTION_KEY, for the embedded mode to keep under DATA_DIR. */
export function generateKeyRingValue(): string {
  return randomBytes(KEY_BYTES).toString('base64')
}

function parseEntry(entry: string, position: number): MasterKey {
  const where = `ENCRYPTION_KEY entry ${position}`
  if (entry === '') throw new Error(`${where} is empty`)
  const colon = entry.indexOf(':')
  const encoded = colon === -1 ? entry : entry.slice(colon + 1)
  // The key itself never goes into a message: messages end up in logs.
  if (!BASE64_PATTERN.test(encoded)) throw new Error(`${where}: key is not base64; ${HINT}`)
  const bytes = Buffer.from(encoded, 'base64')
  if (bytes.length !== KEY_BYTES) {
    throw new Error(`${where}: key is ${bytes.length} bytes, not ${KEY_BYTES}; ${HINT}`)
  }
  const id = colon === -1 ? derivedId(bytes) : entry.slice(0, colon)
  if (!KEY_ID_PATTERN.test(id)) {
    throw new Error(
      `${where}: key id must be 1-32 of A-Z a-z 0-9 _ -, got ${JSON.stringify(id.slice(0, 40))}`,
    )
  }
  return { id, secret: createSecretKey(bytes) }
}

// Domain-separated, so the id stored beside every blob is not a plain hash of the key.
function derivedId(key: Buffer): string {
  return createHash('sha256').update('satchel key id\0').update(key).digest('hex').slice(0, 8)
}
