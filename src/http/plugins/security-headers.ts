import type { FastifyInstance } from 'fastify'

/**
 * Headers on every response Fastify sends, errors and the 404 handler included (not the
 * bare answers Node's HTTP parser gives to malformed requests, such as 431). Browsers never
 * guess a type (nosniff), and nothing is stored by a cache unless the route says otherwise:
 * most bodies carry a token, a signed URL, a share link or a user's data, and a route that
 * may be cached (a download, which needs revalidation) sets its own Cache-Control.
 */
export function registerSecurityHeaders(app: FastifyInstance) {
  // A callback hook, not an async one: it runs on every response, and a promise each costs.
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('x-content-type-options', 'nosniff')
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    done(null, payload)
  })
}
