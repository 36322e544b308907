import type { FastifyInstance, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { NotAuthenticatedError } from '../../errors.js'
import type { AccessClaims, AccessTokens } from '../../users/access-tokens.js'
import type { SessionGuard } from '../../users/session-guard.js'

/**
 * The claims of the request's bearer token, verified at most once per request (the rate
 * limiter reads them before the route authenticates): at once for a token this process has
 * verified before, a promise for any other, undefined without a token. They live on the
 * request itself, so they go with the request.
 */
export function tokenClaims(
  req: FastifyRequest,
  accessTokens: AccessTokens,
): AccessClaims | Promise<AccessClaims> | undefined {
  if (req.accessClaims === null) {
    const token = bearerToken(req)
    req.accessClaims =
      token === undefined
        ? undefined
        : (accessTokens.remembered(token) ?? accessTokens.verify(token))
  }
  return req.accessClaims
}

/**
 * Adds `app.authenticate`, the onRequest hook that every owner-only route uses. A callback
 * hook that calls back at once when the token and the session's verdict are already known
 * here, as they are for every request of an active client after its first.
 */
export function registerAuthenticate(
  app: FastifyInstance,
  accessTokens: AccessTokens,
  sessionGuard: SessionGuard,
) {
  app.decorateRequest('user', null as never)
  app.decorateRequest('accessClaims', null)
  // After the signature: a revoked session or a disabled or deleted user is refused.
  const admit = (req: FastifyRequest, claims: AccessClaims, done: HookHandlerDoneFunction) => {
    if (sessionGuard.passes(claims)) {
      req.user = { id: claims.userId, sessionId: claims.sessionId }
      done()
      return
    }
    sessionGuard.check(claims).then(() => {
      req.user = { id: claims.userId, sessionId: claims.sessionId }
      done()
    }, done)
  }
  const authenticate = (req: FastifyRequest, _reply: unknown, done: HookHandlerDoneFunction) => {
    const claims = tokenClaims(req, accessTokens)
    if (claims === undefined) done(new NotAuthenticatedError())
    else if (claims instanceof Promise) claims.then((known) => admit(req, known, done), done)
    else admit(req, claims, done)
  }
  app.decorate('authenticate', authenticate)
  app.decorate(
    'authenticated',
    (req: FastifyRequest) =>
      new Promise<void>((resolve, reject) =>
        authenticate(req, undefined, (err) => (err ? reject(err) : resolve())),
      ),
  )
}

/**
 * The Authorization header each connection sent last, and the token in it. A keep-alive
 * client sends the same header with every request: taking the token out of it again, and
 * hashing the new token's ~350 characters to find it in the memo of verified tokens, took
 * ~1.2 µs of the ~27 µs of CPU a cached list page costs (perf, under bench/api.ts). The token
 * kept here is the string the memo was last searched with, whose hash V8 keeps.
 */
const lastBearer = new WeakMap<object, { header: string; token: string | undefined }>()

export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization
  if (header === undefined) return undefined
  const connection: object | undefined = req.raw.socket
  const last = connection && lastBearer.get(connection)
  if (last?.header === header) return last.token
  const token = /^Bearer ([^\s]+)$/i.exec(header)?.[1]
  if (connection) lastBearer.set(connection, { header, token })
  return token
}
