import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { GeneralLimit } from './rate-limit.js'

/**
 * Headers on every response Fastify sends, errors and the 404 handler included (the few
 * answers given before any hook runs set them themselves, see http/errors.ts). Browsers never
 * guess a type (nosniff), and nothing is stored by a cache unless the route says otherwise:
 * most bodies carry a token, a signed URL, a share link or a user's data, and a route that
 * may be cached (a download, which needs revalidation) replaces Cache-Control with its own.
 */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
} as const

/**
 * The one app-level onRequest step, ahead of every route's own: it stamps the headers every
 * response carries, with the request id, and spends the general rate limit. It is a callback
 * hook that calls back at once when the limit can be settled from this process's memory (a
 * token verified before, a count kept here), so such a request costs no promise here.
 */
export function registerRequestGate(app: FastifyInstance, limit: GeneralLimit) {
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done) => {
    reply
      .header('x-request-id', req.id)
      .header('x-content-type-options', SECURITY_HEADERS['x-content-type-options'])
      .header('cache-control', SECURITY_HEADERS['cache-control'])
    if (!limit.applies(req)) return done()
    let spent: Promise<void> | undefined
    try {
      spent = limit.spend(req, reply)
    } catch (err) {
      return done(err as Error)
    }
    if (spent) spent.then(() => done(), done)
    else done()
  })
}
