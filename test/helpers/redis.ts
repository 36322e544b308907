import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { createRedisClient } from '../../src/infra/redis.js'

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A loopback address where nothing listens. */
export const CLOSED_REDIS_URL = 'redis://127.0.0.1:1'

export interface TestRedis {
  client: Redis
  /** Unique to this connection, so concurrent runs never see each other's keys. */
  prefix: string
  /** Deletes every key under `prefix`, then disconnects. */
  close(): Promise<void>
}

/** A connected client of the test Redis; fails within seconds if Redis is not there. */
export async function connectTestRedis(): Promise<TestRedis> {
  const client = createRedisClient(TEST_REDIS_URL, pino({ level: 'silent' }))
  try {
    await once(client, 'ready', { signal: AbortSignal.timeout(5000) })
  } catch (err) {
    client.disconnect()
    throw new Error(`no Redis at ${TEST_REDIS_URL}`, { cause: err })
  }
  const prefix = `test-${randomBytes(6).toString('hex')}:`
  return {
    client,
    prefix,
    async close() {
      for await (const keys of client.scanStream({ match: `${prefix}*`, count: 1000 })) {
        if ((keys as string[]).length > 0) await client.del(...(keys as string[]))
      }
      client.disconnect()
    },
  }
}
