import { type WarnLogger, WarnThrottle } from '../warn-throttle.js'
import type { Cache } from './cache.js'

export interface GuardedCacheOptions {
  cache: Cache
  logger: WarnLogger
  /** How long a cache call may take before it counts as failed; 0 for no limit. */
  timeoutMs?: number
}

/**
 * A Cache for callers that treat it as an optimisation only: no call throws or stalls. A
 * failure or an answer slower than `timeoutMs` logs a throttled warning and counts as
 * nothing found (get), not stored (add) or done (set, delete).
 */
export class GuardedCache {
  private readonly cache: Cache
  private readonly warnings: WarnThrottle
  private readonly timeoutMs: number

  constructor({ cache, logger, timeoutMs = 150 }: GuardedCacheOptions) {
    this.cache = cache
    this.warnings = new WarnThrottle(logger)
    this.timeoutMs = timeoutMs
  }

  get<T>(key: string): Promise<T | undefined> {
    return this.attempt('get', () => this.cache.get<T>(key))
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    await this.attempt('set', () => this.cache.set(key, value, ttlSeconds))
  }

  async add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean> {
    return (await this.attempt('add', () => this.cache.add(key, value, ttlSeconds))) ?? false
  }

  async delete(...keys: string[]): Promise<void> {
    await this.attempt('delete', () => this.cache.delete(...keys))
  }

  private async attempt<R>(operation: string, call: () => Promise<R>): Promise<R | undefined> {
    if (this.timeoutMs === 0) return call().catch((err) => this.warn(operation, err))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`cache did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      )
    })
    try {
      return await Promise.race([call(), timeout])
    } catch (err) {
      return this.warn(operation, err)
    } finally {
      clearTimeout(timer)
    }
  }

  private warn(operation: string, err: unknown): undefined {
    this.warnings.warn({ err, operation }, 'cache unavailable; reading from the source')
    return undefined
  }
}
