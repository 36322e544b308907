import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto'
import { LruMap } from '../infra/lru-map.js'
import { InvalidSignatureError, SignedUrlExpiredError } from './files-errors.js'

// Expiries a verify may name: the current ones, and whatever a client sends.
const EXPIRY_KEYS = 64
const UUID_HEX = /^[0-9a-f]{32}$/i
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
 * file the URL it computed before.
 */
export class SignedUrls {
  private readonly key: Buffer
  private readonly step: number
  private readonly issued = new LruMap<string, { expires: number; url: string }>(10_000)
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

  /** contentUrl() of each file, in order; the ones not issued yet are tagged together. */
  contentUrls(fileIds: readonly string[], now = Date.now()): string[] {
    const expires = this.currentExpiry(now)
    const urls: string[] = []
    const missing: number[] = []
    fileIds.forEach((fileId, i) => {
      const issued = this.issued.get(fileId)
      if (issued?.expires === expires) urls[i] = issued.url
      else missing.push(i)
    })
    if (missing.length === 0) return urls
    const tags = this.tags(
      missing.map((i) => fileIds[i]!),
      expires,
    )
    missing.forEach((i, n) => {
      const fileId = fileIds[i]!
      const tag = tags.toString('base64url', n * 16, n * 16 + 16)
      const url = `${this.baseUrl}/files/${fileId}/content?expires=${expires}&signature=${tag}`
      this.issued.set(fileId, { expires, url })
      urls[i] = url
    })
    return urls
  }

  verify(fileId: string, expires: number, signature: string): void {
    if (!UUID_HEX.test(fileId.replaceAll('-', ''))) throw new InvalidSignatureError()
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
    const blocks = Buffer.from(fileIds.join('').replaceAll('-', ''), 'hex')
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
