import { mkdir, statfs } from 'node:fs/promises'
import { Type } from '@fastify/type-provider-typebox'
import { ServiceUnavailableError } from '../../../errors.js'
import { anonymous, problems, RetryAfter } from '../../openapi.js'
import type { App } from '../../types.js'

export interface ReadinessCheck {
  name: string
  check: () => Promise<void>
}

const Status = Type.Object({ status: Type.String() })

/**
 * Fails while the file system holding `path` has less than `minFreeBytes` available to us: an
 * instance about to fill its disk should take no new uploads, and a load balancer can see it.
 */
export function diskSpaceCheck(path: string, minFreeBytes: number): ReadinessCheck {
  return {
    name: 'disk',
    async check() {
      await mkdir(path, { recursive: true })
      const { bavail, bsize } = await statfs(path)
      const free = bavail * bsize
      if (free < minFreeBytes) {
        throw new Error(`${free} bytes free under ${path}, below the ${minFreeBytes} minimum`)
      }
    },
  }
}

export function health(app: App, checks: ReadinessCheck[]) {
  app.get(
    '/healthz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'The process is alive',
        operationId: 'checkLiveness',
        security: anonymous,
        response: { 200: Status },
      },
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      config: { rateLimit: false },
      schema: {
        tags: ['operations'],
        summary: 'Every dependency answers and the disk has room',
        operationId: 'checkReadiness',
        security: anonymous,
        response: {
          200: Status,
          ...problems({
            503: {
              description:
                '`service_unavailable`: the detail names the failing checks (database, storage, redis, disk)',
              headers: RetryAfter,
            },
          }),
        },
      },
    },
    async (req) => {
      const results = await Promise.allSettled(checks.map((c) => c.check()))
      const failures = checks.flatMap((c, i) => {
        const result = results[i]
        return result?.status === 'rejected'
          ? [{ check: c.name, reason: String(result.reason) }]
          : []
      })
      if (failures.length > 0) {
        req.log.warn({ failures }, 'not ready')
        const failed = failures.map((f) => f.check).join(', ')
        throw new ServiceUnavailableError(`Not ready: ${failed} failing`, 5)
      }
      return { status: 'ready' }
    },
  )
}
