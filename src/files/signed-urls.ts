import { createHmac, timingSafeEqual } from 'node:crypto'
import { LruMap } from '../infra/lru-map.js'
import { InvalidSignatureError, SignedUrlExpiredError } from './files-errors.js'

/**
 * Download links usable without an Authorization header, like S3 presigned URLs: the query
 * carries an expiry and an HMAC over the file id and that expiry.
 *
 * Expiries fall on a grid of a tenth of the TTL, so every link lives 90–100% of the TTL and
 * a file keeps one URL for a while: browsers can cache the download, and a list of 50 files
 * does not compute 50 HMACs (~3 µs each) on every request.
 */
export class SignedUrls {
  private readonly key: Buffer
  private readonly step: number
  private readonly issued = new LruMap<string, { expires: number; url: string }>(10_000)

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
    const expires = this.currentExpiry(now)
    const issued = this.issued.get(fileId)
    if (issued?.expires === expires) return issued.url
    const url = `${this.baseUrl}/files/${fileId}/content?expires=${expires}&signature=${this.sign(fileId, expires)}`
    this.issued.set(fileId, { expires, url })
    return url
  }

  verify(fileId: string, expires: number, signature: string): void {
    const expected = Buffer.from(this.sign(fileId, expires))
    const given = Buffer.from(signature)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new InvalidSignatureError()
    }
    if (expires * 1000 <= Date.now()) throw new SignedUrlExpiredError()
  }

  private sign(fileId: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${fileId}\n${expires}`).digest('base64url')
  }
}
