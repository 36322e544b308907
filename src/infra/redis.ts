import { Redis } from 'ioredis'
import type { Logger } from './logger.js'

const WARN_EVERY_MS = 10_000

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
  })
  let lastWarning = 0
  client.on('error', (err) => {
    if (Date.now() - lastWarning < WARN_EVERY_MS) return
    lastWarning = Date.now()
    logger.warn({ err: err.message }, 'redis connection error')
  })
  client.on('ready', () => logger.info('redis connected'))
  return client
}
