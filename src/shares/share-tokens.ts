import { createHash, createHmac } from 'node:crypto'

/**
 * A link's token is an HMAC of its id under a server key: 256 unguessable bits that can be
 * recomputed to show the link again, while the database stores only a hash of it.
 */
export class ShareTokens {
  private readonly key: Buffer

  constructor(secret: string) {
    this.key = createHmac('sha256', secret).update('satchel:share-token').digest()
  }

  tokenFor(shareId: string): string {
    return createHmac('sha256', this.key).update(shareId).digest('base64url')
  }

  hash(token: string): string {
    return createHash('sha256').update(token).digest('hex')
  }
}
