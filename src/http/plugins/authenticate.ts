import type { FastifyInstance, FastifyRequest } from 'fastify'
import { NotAuthenticatedError } from '../../errors.js'
import type { AccessClaims, AccessTokens } from '../../users/access-tokens.js'
import type { SessionGuard } from '../../users/session-guard.js'

/**
 * The request's bearer token, verified at most once per request (the rate limiter reads it
 * before the route authenticates); rejects if absent or bad. The promise lives on the
 * request itself, so it goes with the request.
 */
export function verifiedClaims(
  req: FastifyRequest,
  accessTokens: AccessTokens,
): Promise<AccessClaims> {
  if (!req.accessClaims) {
    const token = bearerToken(req)
    req.accessClaims = token
      ? accessTokens.verify(token)
      : Promise.reject(new NotAuthenticatedError())
  }
  return req.accessClaims
}

/** Adds `app.authenticate`, the onRequest hook that every owner-only route uses. */
export function registerAuthenticate(
  app: FastifyInstance,
  accessTokens: AccessTokens,
  sessionGuard: SessionGuard,
) {
  app.decorateRequest('user', null as never)
  app.decorateRequest('accessClaims', null)
  app.decorate('authenticate', async (req: FastifyRequest) => {
    const claims = await verifiedClaims(req, accessTokens)
    // After the signature: a revoked session or a disabled or deleted user is refused.
    await sessionGuard.check(claims)
    req.user = { id: claims.userId, sessionId: claims.sessionId }
  })
}

export function bearerToken(req: FastifyRequest): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')
  return match?.[1]
}
