import { timingSafeEqual } from 'node:crypto'
import { NotAuthenticatedError } from '../../../errors.js'
import type { Metrics } from '../../../infra/metrics.js'
import { bearerToken } from '../../plugins/authenticate.js'
import type { App } from '../../types.js'

/** Prometheus metrics; with METRICS_TOKEN set, only for `Authorization: Bearer <token>`. */
export function getMetrics(app: App, metrics: Metrics, token: string | undefined) {
  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: { tags: ['operations'], summary: 'Prometheus metrics' },
    },
    async (req, reply) => {
      if (token && !sameSecret(bearerToken(req) ?? '', token)) throw new NotAuthenticatedError()
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
    },
  )
}

function sameSecret(given: string, expected: string) {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
