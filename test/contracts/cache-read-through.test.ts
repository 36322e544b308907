import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Cache } from '../../src/infra/cache/cache.js'
import { GuardedCache } from '../../src/infra/cache/guarded-cache.js'
import { MemoryCache } from '../../src/infra/cache/memory-cache.js'
import { ReadThroughCache } from '../../src/infra/cache/read-through-cache.js'
import { RedisCache } from '../../src/infra/cache/redis-cache.js'
import { createRedisClient } from '../../src/infra/redis.js'
import { CLOSED_REDIS_URL, connectTestRedis, type TestRedis } from '../helpers/redis.js'

const TTL = 60

/** A loader over one mutable row that counts its calls. */
function source<T>(initial: T | undefined) {
  const row = { value: initial, loads: 0 }
  const load = vi.fn(async () => {
    row.loads++
    return row.value
  })
  return { row, load }
}

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

function quietLogger() {
  return { warn: vi.fn() }
}

describe.each([
  { name: 'memory', connect: async () => ({ cache: new MemoryCache(), close: async () => {} }) },
  {
    name: 'redis',
    connect: async () => {
      const redis: TestRedis = await connectTestRedis()
      return { cache: new RedisCache(redis.client, redis.prefix), close: redis.close }
    },
  },
])('ReadThroughCache over $name', ({ connect }) => {
  let cache: Cache
  let close: () => Promise<void>
  let logger: ReturnType<typeof quietLogger>
  let reader: ReadThroughCache

  beforeAll(async () => {
    ;({ cache, close } = await connect())
    logger = quietLogger()
    reader = new ReadThroughCache({ cache: new GuardedCache({ cache, logger }) })
  })
  afterAll(() => close())

  it('loads on a miss, then answers from the cache', async () => {
    const key = randomUUID()
    const { load } = source({ id: key, size: 1 })

    expect(await reader.getOrLoad(key, TTL, load)).toEqual({ id: key, size: 1 })
    expect(await reader.getOrLoad(key, TTL, load)).toEqual({ id: key, size: 1 })

    expect(load).toHaveBeenCalledTimes(1)
    expect(await cache.get(key)).toEqual({ id: key, size: 1 })
    expect(logger.warn).not.toHaveBeenCalled()
  })

  it('loads once for 50 concurrent misses of one key', async () => {
    const key = randomUUID()
    const { load } = source('value')

    const results = await Promise.all(
      Array.from({ length: 50 }, () => reader.getOrLoad(key, TTL, load)),
    )

    expect(results).toEqual(Array(50).fill('value'))
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('does not cache a missing row', async () => {
    const key = randomUUID()
    const { row, load } = source<string>(undefined)

    expect(await reader.getOrLoad(key, TTL, load)).toBeUndefined()
    row.value = 'created'

    expect(await reader.getOrLoad(key, TTL, load)).toBe('created')
  })

  it('shares a failing load with its joiners, then tries again', async () => {
    const key = randomUUID()
    const load = vi.fn().mockRejectedValueOnce(new Error('db down')).mockResolvedValue('back')

    const reads = [reader.getOrLoad(key, TTL, load), reader.getOrLoad(key, TTL, load)]

    for (const read of reads) await expect(read).rejects.toThrow('db down')
    expect(await reader.getOrLoad(key, TTL, load)).toBe('back')
    expect(load).toHaveBeenCalledTimes(2)
  })

  it('reloads after delete', async () => {
    const [key, other] = [randomUUID(), randomUUID()]
    const { row, load } = source('old')
    await reader.getOrLoad(key, TTL, load)
    await reader.getOrLoad(other, TTL, load)

    row.value = 'new'
    await reader.delete(key, other)

    expect(await reader.getOrLoad(key, TTL, load)).toBe('new')
    expect(await reader.getOrLoad(other, TTL, load)).toBe('new')
    expect(load).toHaveBeenCalledTimes(4)
  })

  it('never stores what a load read before a racing delete', async () => {
    const key = randomUUID()
    const row = { value: 'old' }
    const started = deferred()
    const release = deferred()
    const slowLoad = async () => {
      const read = row.value
      started.resolve()
      await release.promise
      return read
    }

    const stale = reader.getOrLoad(key, TTL, slowLoad)
    await started.promise
    row.value = 'new'
    await reader.delete(key)
    // Starts after the delete, so it must not join the stale flight (still held up).
    const fresh = reader.getOrLoad(key, TTL, async () => row.value)
    expect(await Promise.race([fresh, sleep(500, 'joined the stale flight')])).toBe('new')
    release.resolve()

    expect(await stale).toBe('old')
    expect(await cache.get(key)).toBe('new')
    expect(await reader.getOrLoad(key, TTL, async () => 'unexpected load')).toBe('new')
  })
})

describe('ReadThroughCache over a failing cache', () => {
  const rejecting: Cache = {
    get: () => Promise.reject(new Error('cache down')),
    set: () => Promise.reject(new Error('cache down')),
    add: () => Promise.reject(new Error('cache down')),
    delete: () => Promise.reject(new Error('cache down')),
  }
  const hanging: Cache = {
    get: () => new Promise(() => {}),
    set: () => new Promise(() => {}),
    add: () => new Promise(() => {}),
    delete: () => new Promise(() => {}),
  }

  it.each([
    { name: 'rejects', cache: rejecting },
    { name: 'never answers', cache: hanging },
  ])('returns loaded values and warns when the cache $name', async ({ cache }) => {
    const logger = quietLogger()
    const reader = new ReadThroughCache({
      cache: new GuardedCache({ cache, logger, timeoutMs: 50 }),
    })
    const { load } = source({ id: 1 })

    expect(await reader.getOrLoad('k', TTL, load)).toEqual({ id: 1 })
    expect(await reader.getOrLoad('k', TTL, load)).toEqual({ id: 1 })
    await expect(reader.delete('k')).resolves.toBeUndefined()

    expect(load).toHaveBeenCalledTimes(2)
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: expect.any(Error) }),
      expect.any(String),
    )
  })

  it('warns once per interval, not once per failure', async () => {
    const logger = quietLogger()
    const reader = new ReadThroughCache({ cache: new GuardedCache({ cache: rejecting, logger }) })

    for (let i = 0; i < 10; i++) await reader.getOrLoad(randomUUID(), TTL, async () => i)

    expect(logger.warn).toHaveBeenCalledTimes(1)
  })

  describe('with Redis unreachable', () => {
    const client = createRedisClient(CLOSED_REDIS_URL, pino({ level: 'silent' }))
    afterAll(() => client.disconnect())

    it('answers every read from the source, promptly, without throwing', async () => {
      const logger = quietLogger()
      const reader = new ReadThroughCache({
        cache: new GuardedCache({ cache: new RedisCache(client, 'x:'), logger }),
      })
      const { load } = source('from the database')

      for (let i = 0; i < 5; i++) {
        const startedAt = performance.now()
        expect(await reader.getOrLoad('file', TTL, load)).toBe('from the database')
        expect(performance.now() - startedAt).toBeLessThan(1000)
      }
      await expect(reader.delete('file')).resolves.toBeUndefined()

      expect(load).toHaveBeenCalledTimes(5)
      expect(logger.warn).toHaveBeenCalled()
    })
  })
})
