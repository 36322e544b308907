import { Redis } from 'ioredis'
import type { Logger } from './logger.js'
import { WarnThrottle } from './warn-throttle.js'

/**
 * A client tuned for optional Redis: commands fail fast while it is down (callers fall back
 * to in-process state) and it keeps reconnecting in the background until it is back.
 */
export function createRedisClient(url: string, logger: Logger): Redis {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 250,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    // Commands sent in one tick go out in one write and come back in one read: under load the
    // requests in flight (each a rate-limit count and a list version) share the round trips.
    enableAutoPipelining: true,
  })
  const warnings = new WarnThrottle(logger)
  client.on('error', (err) => {
    warnings.warn({ err: err.message }, 'redis connection error')
  })
  client.on('ready', () => logger.info('redis connected'))
  return client
}
