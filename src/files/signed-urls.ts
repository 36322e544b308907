import { createHmac, timingSafeEqual } from 'node:crypto'
import { InvalidSignatureError, SignedUrlExpiredError } from './files-errors.js'

/**
 * Download links usable without an Authorization header, like S3 presigned URLs: the query
 * carries an expiry and an HMAC over the file id and that expiry.
 */
export class SignedUrls {
  private readonly key: Buffer

  constructor(
    secret: string,
    private readonly baseUrl: string,
    private readonly ttlSeconds: number,
  ) {
    // A key of its own, so a signature can never be replayed as any other MAC we compute.
    this.key = createHmac('sha256', secret).update('satchel:signed-download-url').digest()
  }

  contentUrl(fileId: string, now = Date.now()): string {
    const expires = Math.floor(now / 1000) + this.ttlSeconds
    return `${this.baseUrl}/files/${fileId}/content?expires=${expires}&signature=${this.sign(fileId, expires)}`
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
