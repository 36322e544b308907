import type { FastifyInstance, FastifyRequest } from 'fastify'
import { NotAuthenticatedError } from '../../errors.js'
import type { AccessTokens } from '../../users/access-tokens.js'

/** Adds `app.authenticate`, the onRequest hook that every owner-only route uses. */
export function registerAuthenticate(app: FastifyInstance, accessTokens: AccessTokens) {
  app.decorateRequest('user', null as never)
  app.decorate('authenticate', async (req: FastifyRequest) => {
    const token = bearerToken(req)
    if (!token) throw new NotAuthenticatedError()
    const claims = await accessTokens.verify(token)
    req.user = { id: claims.userId, sessionId: claims.sessionId }
  })
}

export function bearerToken(req: FastifyRequest): string | undefined {
  const match = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')
  return match?.[1]
}
