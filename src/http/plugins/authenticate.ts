import type { FastifyInstance, FastifyRequest } from 'fastify'
import { NotAuthenticatedError } from '../../errors.js'
import type { AccessClaims, AccessTokens } from '../../users/access-tokens.js'

// The rate limiter reads the token before the route authenticates: both share one verify.
const verifications = new WeakMap<FastifyRequest, Promise<AccessClaims>>()

/** The request's bearer token, verified at most once per request; rejects if absent or bad. */
export function verifiedClaims(
  req: FastifyRequest,
  accessTokens: AccessTokens,
): Promise<AccessClaims> {
  let claims = verifications.get(req)
  if (!claims) {
    const token = bearerToken(req)
    claims = token ? accessTokens.verify(token) : Promise.reject(new NotAuthenticatedError())
    verifications.set(req, claims)
  }
  return claims
}

/** Adds `app.authenticate`, the onRequest hook that every owner-only route uses. */
export function registerAuthenticate(app: FastifyInstance, accessTokens: AccessTokens) {
  app.decorateRequest('user', null as never)
  app.decorate('authenticate', async (req: FastifyRequest) => {
    const claims = await verifiedClaims(req, accessTokens)
    req.user = { id: claims.userId, sessionId: claims.sessionId }
  })
}

export function bearerToken(req: FastifyRequest): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')
  return match?.[1]
}
