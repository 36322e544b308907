import type { Redis } from 'ioredis'
import type { Cache } from './cache.js'

/**
 * The cache shared by every instance. The client is the app's shared one
 * (src/infra/redis.ts): it fails commands at once while disconnected and times them out
 * after its `commandTimeout`, and ReadThroughCache bounds each call again, so a slow or
 * absent Redis costs a request a cache miss, not a stall. Errors are left to reject:
 * deciding to fall back is the caller's business.
 */
export class RedisCache implements Cache {
  constructor(
    private readonly redis: Redis,
    /** Namespaces every key, so deployments (or test runs) can share one Redis. */
    private readonly prefix: string,
  ) {}

  async get<T>(key: string): Promise<T | undefined> {
    const json = await this.redis.get(this.prefix + key)
    return json === null ? undefined : (JSON.parse(json) as T)
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    await this.redis.set(this.prefix + key, JSON.stringify(value), 'EX', ttlSeconds)
  }

  async add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean> {
    const reply = await this.redis.set(
      this.prefix + key,
      JSON.stringify(value),
      'EX',
      ttlSeconds,
      'NX',
    )
    return reply === 'OK'
  }

  async delete(...keys: string[]): Promise<void> {
    // DEL with no keys is a Redis syntax error.
    if (keys.length === 0) return
    await this.redis.del(...keys.map((key) => this.prefix + key))
  }
}
