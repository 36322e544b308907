import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { AppError } from '../errors.js'
import type { FixedWindowCounter } from '../infra/fixed-window.js'

export class InvalidTicketError extends AppError {
  constructor() {
    super('invalid_ticket', 401, 'The WebSocket ticket is invalid, expired or already used')
  }
}

/**
 * One-time tickets that open a WebSocket, so access tokens never travel in a URL. A ticket
 * is signed (any instance can check it) and its nonce is spent through the shared counter
 * (so it opens one connection, on whichever instance it reaches).
 */
export class SocketTickets {
  private readonly key: Buffer

  constructor(
    secret: string,
    private readonly spent: FixedWindowCounter,
    readonly ttlSeconds = 30,
  ) {
    this.key = createHmac('sha256', secret).update('satchel:socket-ticket').digest()
  }

  issue(userId: string): string {
    const payload = Buffer.from(
      JSON.stringify({
        u: userId,
        e: Date.now() + this.ttlSeconds * 1000,
        n: randomBytes(12).toString('base64url'),
      }),
    ).toString('base64url')
    return `${payload}.${this.sign(payload)}`
  }

  /** The user the ticket was issued to; throws if it is forged, expired or used. */
  async redeem(ticket: string): Promise<string> {
    const [payload = '', signature = ''] = ticket.split('.')
    const expected = Buffer.from(this.sign(payload))
    const given = Buffer.from(signature)
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new InvalidTicketError()
    const { u, e, n } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    if (
      typeof u !== 'string' ||
      typeof n !== 'string' ||
      typeof e !== 'number' ||
      e <= Date.now()
    ) {
      throw new InvalidTicketError()
    }
    const { current } = await this.spent.hit(`socket-ticket:${n}`, this.ttlSeconds * 1000)
    if (current !== 1) throw new InvalidTicketError()
    return u
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url')
  }
}
