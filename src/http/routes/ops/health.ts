import { Type } from '@fastify/type-provider-typebox'
import { ServiceUnavailableError } from '../../../errors.js'
import type { App } from '../../types.js'

export interface ReadinessCheck {
  name: string
  check: () => Promise<void>
}

const Status = Type.Object({ status: Type.String() })

export function health(app: App, checks: ReadinessCheck[]) {
  app.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: { tags: ['operations'], summary: 'The process is alive', response: { 200: Status } },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Every dependency answers',
        response: { 200: Status },
      },
    },
    async (req) => {
      const results = await Promise.allSettled(checks.map((c) => c.check()))
      const failed = checks.filter((_, i) => results[i]?.status === 'rejected').map((c) => c.name)
      if (failed.length > 0) {
        req.log.warn({ failed }, 'not ready')
        throw new ServiceUnavailableError(`Not ready: ${failed.join(', ')} unreachable`, 5)
      }
      return { status: 'ready' }
    },
  )
}
