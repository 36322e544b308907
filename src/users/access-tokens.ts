import { randomUUID } from 'node:crypto'
import { errors, jwtVerify, SignJWT } from 'jose'
import { NotAuthenticatedError } from '../errors.js'
import { LruMap } from '../infra/lru-map.js'

const ISSUER = 'satchel'
const AUDIENCE = 'satchel-api'
// RFC 9068's media type for access tokens; checking it keeps other JWTs we sign from passing.
const TOKEN_TYPE = 'at+jwt'

export interface AccessClaims {
  userId: string
  sessionId: string
}

/**
 * Signs and verifies short-lived HS256 access tokens; the algorithm is pinned on verify.
 * A client sends the same token with every request until it expires, and a verification
 * costs ~100 µs of CPU, so tokens that verified are remembered, by their exact text, until
 * their expiry. Tokens that fail are never remembered.
 */
export class AccessTokens {
  private readonly key: Uint8Array
  private readonly verified = new LruMap<string, { claims: AccessClaims; expiresAt: number }>(
    10_000,
  )

  constructor(
    secret: string,
    readonly ttlSeconds: number,
  ) {
    this.key = new TextEncoder().encode(secret)
  }

  sign({ userId, sessionId }: AccessClaims): Promise<string> {
    return new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: TOKEN_TYPE })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(userId)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key)
  }

  async verify(token: string): Promise<AccessClaims> {
    const known = this.remembered(token)
    if (known) return known
    if (!isCanonical(token)) throw new NotAuthenticatedError('The access token is invalid')
    const { claims, expiresAt } = await this.verifySignature(token)
    this.verified.set(token, { claims, expiresAt })
    return claims
  }

  /**
   * The claims of a token that verified here before and has not expired; undefined for any
   * other, which only verify() can judge. The memo holds exact texts that were canonical, so
   * a hit needs no canonical check of its own.
   */
  remembered(token: string): AccessClaims | undefined {
    const known = this.verified.get(token)
    return known && known.expiresAt > Date.now() ? known.claims : undefined
  }

  private async verifySignature(token: string) {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: TOKEN_TYPE,
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
      })
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new NotAuthenticatedError()
      }
      return {
        claims: { userId: payload.sub, sessionId: payload.sid },
        expiresAt: (payload.exp as number) * 1000,
      }
    } catch (err) {
      if (err instanceof NotAuthenticatedError) throw err
      const expired = err instanceof errors.JWTExpired
      throw new NotAuthenticatedError(
        expired ? 'The access token has expired' : 'The access token is invalid',
      )
    }
  }
}

/**
 * Whether the token is the one spelling of its bytes: three unpadded base64url segments that
 * re-encode to themselves. jose decodes a padded segment, or one whose unused trailing bits
 * differ, to the same bytes, so `${token}=` would otherwise verify as the token itself.
 */
function isCanonical(token: string): boolean {
  const segments = token.split('.')
  return (
    segments.length === 3 &&
    segments.every(
      (segment) =>
        /^[\w-]+$/.test(segment) &&
        Buffer.from(segment, 'base64url').toString('base64url') === segment,
    )
  )
}
