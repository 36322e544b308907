import { describe, expect, it } from 'vitest'
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
  it('stores under its prefix with the TTL set in Redis', async () => {
    const redis = await connectTestRedis()
    try {
      await new RedisCache(redis.client, redis.prefix).set('file:1', { id: 1 }, 30)

      expect(await redis.client.get(`${redis.prefix}file:1`)).toBe('{"id":1}')
      const ttl = await redis.client.ttl(`${redis.prefix}file:1`)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(30)
    } finally {
      await redis.close()
    }
  })
})
