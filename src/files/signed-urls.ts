import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto'
import { LruMap } from '../infra/lru-map.js'
import { InvalidSignatureError, SignedUrlExpiredError } from './files-errors.js'

// Expiries a verify may name: the current ones, and whatever a client sends.
const EXPIRY_KEYS = 64
// The form uuidBytes() reads; the download route's schema lets no other through.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
// An HMAC-SHA256 in base64url, as links were signed before tags.
const LEGACY_SIGNATURE_LENGTH = 43

/**
 * Download links usable without an Authorization header, like S3 presigned URLs: the query
 * carries an expiry and a tag that only the server can compute for that file and expiry.
 *
 * The tag is AES-128 of the file id's 16 bytes, under a key derived (HMAC) from the expiry.
 * AES is a pseudorandom function on one block, so on these fixed-length messages it is a
 * MAC as sound as an HMAC, and the tags of a whole page of files come from one cipher call:
 * an HMAC each (~2.5 µs) was the most expensive part of a 50-row page left.
 * Links signed with an HMAC, before tags, still verify until they expire.
 *
 * Expiries fall on a grid of a tenth of the TTL, so every link lives 90–100% of the TTL and
 * a file keeps one URL for a while: browsers can cache the download, and a list shows each
 * file the URL it computed before. The URLs are not memoised: tagging a page's 50 ids takes
 * one cipher call (~4 µs), while a memo of recent URLs, missed by page after page of a long
 * list, cost ~3 µs per file and most of that in garbage collection.
 */
export class SignedUrls {
  private readonly key: Buffer
  private readonly step: number
  private readonly expiryKeys = new LruMap<number, Buffer>(EXPIRY_KEYS)

  constructor(
    secret: string,
    private readonly baseUrl: string,
    private readonly ttlSeconds: number,
  ) {
    // A key of its own, so a signature can never be replayed as any other MAC we compute.
    this.key = createHmac('sha256', secret).update('satchel:signed-download-url').digest()
    this.step = Math.max(1, Math.floor(ttlSeconds / 10))
  }

  /** The expiry of the URLs issued now (Unix seconds); URLs change when it does. */
  currentExpiry(now = Date.now()): number {
    return Math.floor((now / 1000 + this.ttlSeconds) / this.step) * this.step
  }

  contentUrl(fileId: string, now = Date.now()): string {
    return this.contentUrls([fileId], now)[0]!
  }

  /** contentUrl() of each file, in order, tagged together. */
  contentUrls(fileIds: readonly string[], now = Date.now()): string[] {
    const expires = this.currentExpiry(now)
    const tags = this.tags(fileIds, expires)
    return fileIds.map(
      (fileId, i) =>
        `${this.baseUrl}/files/${fileId}/content?expires=${expires}&signature=${tags.toString('base64url', i * 16, i * 16 + 16)}`,
    )
  }

  verify(fileId: string, expires: number, signature: string): void {
    if (!UUID.test(fileId)) throw new InvalidSignatureError()
    const expected = Buffer.from(
      signature.length === LEGACY_SIGNATURE_LENGTH
        ? this.legacySignature(fileId, expires)
        : this.tags([fileId], expires).toString('base64url'),
    )
    const given = Buffer.from(signature)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidSignatureError()
    }
    if (expires * 1000 <= Date.now()) throw new SignedUrlExpiredError()
  }

  /** 16 bytes per file id (a UUID), in order. */
  private tags(fileIds: readonly string[], expires: number): Buffer {
    const blocks = uuidBytes(fileIds)
    const cipher = createCipheriv('aes-128-ecb', this.expiryKey(expires), null)
    return cipher.setAutoPadding(false).update(blocks)
  }

  private expiryKey(expires: number): Buffer {
    let key = this.expiryKeys.get(expires)
    if (key === undefined) {
      key = createHmac('sha256', this.key).update(`tag key\n${expires}`).digest().subarray(0, 16)
      this.expiryKeys.set(expires, key)
    }
    return key
  }

  private legacySignature(fileId: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${fileId}\n${expires}`).digest('base64url')
  }
}

const DASH = 0x2d
// A hex digit's value from its character code, either case.
const hexValue = (code: number) => (code & 0xf) + (code >> 6) * 9

/**
 * The 16 bytes of each UUID, in order. Read straight into the buffer: joining the ids and
 * removing their dashes to decode the text made ~15 KiB of garbage per page of 50.
 */
function uuidBytes(ids: readonly string[]): Buffer {
  const bytes = Buffer.allocUnsafe(ids.length * 16)
  let at = 0
  for (const id of ids) {
    for (let i = 0; i < 36; i += 2) {
      if (id.charCodeAt(i) === DASH) i++
      bytes[at++] = (hexValue(id.charCodeAt(i)) << 4) | hexValue(id.charCodeAt(i + 1))
    }
  }
  return bytes
}
