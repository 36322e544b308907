import { timingSafeEqual } from 'node:crypto'
import { Type } from '@fastify/type-provider-typebox'
import { NotAuthenticatedError } from '../../../errors.js'
import type { Metrics } from '../../../infra/metrics.js'
import { problems } from '../../openapi.js'
import { bearerToken } from '../../plugins/authenticate.js'
import type { App } from '../../types.js'

export interface MetricsAccess {
  /** METRICS_TOKEN: when set, scrapes need `Authorization: Bearer <token>`. */
  token?: string
  /** Whether, without a token, anyone may scrape: only in the embedded mode. */
  openWithoutToken: boolean
}

/**
 * Prometheus metrics. They name routes, rates, failures and load, so a deployment in
 * production mode (DATABASE_URL set) serves them only for METRICS_TOKEN, and refuses every
 * scrape until one is set rather than publish them.
 */
export function getMetrics(app: App, metrics: Metrics, access: MetricsAccess) {
  const { token, openWithoutToken } = access
  if (!token && !openWithoutToken) {
    app.log.warn('METRICS_TOKEN is not set: GET /metrics answers 401 until it is')
  }
  app.get(
    '/metrics',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        operationId: 'getMetrics',
        // Open without a token only in the embedded mode, when METRICS_TOKEN is unset.
        security: [{ metricsToken: [] }, {}],
        response: {
          200: {
            description: 'The Prometheus text exposition format',
            content: { 'text/plain': { schema: Type.String() } },
          },
          ...problems({
            401: '`not_authenticated`: METRICS_TOKEN is set and not given, or it is unset in production mode',
          }),
        },
      },
    },
    async (req, reply) => {
      if (token ? !sameSecret(bearerToken(req) ?? '', token) : !openWithoutToken) {
        throw new NotAuthenticatedError(
          token ? undefined : 'Set METRICS_TOKEN to scrape metrics in production mode',
        )
      }
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics())
    },
  )
}

function sameSecret(given: string, expected: string) {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}
