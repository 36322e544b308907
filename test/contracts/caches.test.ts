import { describe, expect, it, vi } from 'vitest'
import { MemoryCache } from '../../src/infra/cache/memory-cache.js'
import { RedisCache } from '../../src/infra/cache/redis-cache.js'
import { connectTestRedis } from '../helpers/redis.js'
import { cacheContract } from './cache.contract.js'

cacheContract('memory', async () => ({ cache: new MemoryCache(), teardown: async () => {} }))

cacheContract('redis', async () => {
  const redis = await connectTestRedis()
  return { cache: new RedisCache(redis.client, redis.prefix), teardown: redis.close }
})

describe('RedisCache', () => {
  const withRedis = async (
    test: (redis: Awaited<ReturnType<typeof connectTestRedis>>) => Promise<void>,
  ) => {
    const redis = await connectTestRedis()
    try {
      await test(redis)
    } finally {
      await redis.close()
    }
  }

  it('stores under its namespace with the TTL set in Redis', () =>
    withRedis(async (redis) => {
      await new RedisCache(redis.client, redis.prefix).set('file:1', { id: 1 }, 30)

      expect(await redis.client.get(`${redis.prefix}cache:file:1`)).toMatch(/\{"id":1\}$/)
      const ttl = await redis.client.ttl(`${redis.prefix}cache:file:1`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(30)
    }))

  it('answers a hit and a miss in one round trip each', () =>
    withRedis(async (redis) => {
      const cache = new RedisCache(redis.client, redis.prefix)
      await cache.set('hot', 'value', 30)
      // Once, so the count below does not include loading the script.
      await cache.lookup('warm-up')
      const sent = vi.spyOn(redis.client, 'sendCommand')

      expect(await cache.lookup('hot')).toEqual({ hit: true, value: 'value' })
      expect(sent).toHaveBeenCalledTimes(1)
      expect((await cache.lookup('cold')).hit).toBe(false)
      expect(sent).toHaveBeenCalledTimes(2)
    }))

  it('retires every entry when the epoch is lost (a flushed or evicting Redis)', () =>
    withRedis(async (redis) => {
      const cache = new RedisCache(redis.client, redis.prefix)
      await cache.set('kept?', 'old', 60)
      await redis.client.del(`${redis.prefix}cache:@epoch`)

      expect(await cache.get('kept?')).toBeUndefined()
      expect((await cache.lookup('kept?')).hit).toBe(false)
      await cache.set('kept?', 'new', 60)
      expect(await cache.get('kept?')).toBe('new')
    }))

  it('counts an entry in an unknown format (an older release) as a miss', () =>
    withRedis(async (redis) => {
      const cache = new RedisCache(redis.client, redis.prefix)
      await redis.client.set(`${redis.prefix}cache:old`, '{"id":1}')

      expect(await cache.get('old')).toBeUndefined()
      const miss = await cache.lookup('old')
      if (miss.hit) throw new Error('expected a miss')
      expect(await cache.setIfUnchanged('old', { id: 2 }, 60, miss.stamp)).toBe(true)
      expect(await cache.get('old')).toEqual({ id: 2 })
    }))
})
