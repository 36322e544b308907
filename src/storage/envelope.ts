import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { BlobIntegrityError } from './blob-integrity-error.js'
import { KEY_ID_PATTERN, type KeyRing, type MasterKey } from './key-ring.js'

export const DATA_KEY_BYTES = 32
const NONCE_BYTES = 12
const TAG_BYTES = 16
const WRAPPED_BYTES = NONCE_BYTES + DATA_KEY_BYTES + TAG_BYTES

/** What an envelope says about its blob, once its wrapped key has been opened. */
export interface OpenedEnvelope {
  kid: string
  dataKey: Buffer
  chunkSize: number
  /** Plaintext bytes. */
  size: number
}

/** The stored form: compact JSON, so an operator can find blobs by `kid` with a SQL query. */
interface EnvelopeJson {
  v: 1
  kid: string
  cs: number
  size: number
  /** base64url of nonce ‖ AES-256-GCM(master key, data key) ‖ tag. */
  wk: string
}

/** Wraps `dataKey` under `master`, binding it to the blob key and every envelope field. */
export function sealEnvelope(
  blobKey: string,
  master: MasterKey,
  blob: Omit<OpenedEnvelope, 'kid'>,
): string {
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', master.secret, nonce)
  cipher.setAAD(wrapAad(blobKey, master.id, blob))
  const sealed = Buffer.concat([cipher.update(blob.dataKey), cipher.final()])
  const wk = Buffer.concat([nonce, sealed, cipher.getAuthTag()]).toString('base64url')
  const json: EnvelopeJson = { v: 1, kid: master.id, cs: blob.chunkSize, size: blob.size, wk }
  return JSON.stringify(json)
}

/** Unwraps the data key; throws BlobIntegrityError unless the envelope is intact and ours. */
export function openEnvelope(blobKey: string, envelope: string, ring: KeyRing): OpenedEnvelope {
  const json = parseEnvelope(envelope)
  if (!json) throw new BlobIntegrityError(blobKey, 'malformed envelope')
  const master = ring.byId.get(json.kid)
  if (!master) {
    throw new BlobIntegrityError(blobKey, `wrapped under key "${json.kid}", not in ENCRYPTION_KEY`)
  }
  const wrapped = Buffer.from(json.wk, 'base64url')
  const blob = { chunkSize: json.cs, size: json.size }
  const decipher = createDecipheriv('aes-256-gcm', master.secret, wrapped.subarray(0, NONCE_BYTES))
  decipher.setAAD(wrapAad(blobKey, master.id, blob))
  decipher.setAuthTag(wrapped.subarray(NONCE_BYTES + DATA_KEY_BYTES))
  try {
    const dataKey = decipher.update(wrapped.subarray(NONCE_BYTES, NONCE_BYTES + DATA_KEY_BYTES))
    decipher.final()
    return { kid: master.id, dataKey, ...blob }
  } catch {
    throw new BlobIntegrityError(blobKey, 'envelope does not belong to this blob or was altered')
  }
}

// NUL separates the fields: neither key ids nor blob keys can contain one.
function wrapAad(blobKey: string, kid: string, blob: { chunkSize: number; size: number }) {
  return Buffer.from(`satchel envelope v1\0${kid}\0${blobKey}\0${blob.chunkSize}\0${blob.size}`)
}

function parseEnvelope(envelope: string): EnvelopeJson | undefined {
  let value: Partial<Record<keyof EnvelopeJson, unknown>>
  try {
    value = JSON.parse(envelope)
  } catch {
    return undefined
  }
  const { v, kid, cs, size, wk } = value ?? {}
  const valid =
    v === 1 &&
    typeof kid === 'string' &&
    KEY_ID_PATTERN.test(kid) &&
    Number.isSafeInteger(cs) &&
    (cs as number) > 0 &&
    Number.isSafeInteger(size) &&
    (size as number) >= 0 &&
    typeof wk === 'string' &&
    Buffer.from(wk, 'base64url').length === WRAPPED_BYTES
  return valid ? (value as EnvelopeJson) : undefined
}
