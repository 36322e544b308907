import { type WarnLogger, WarnThrottle } from '../warn-throttle.js'
import type { Cache, Lookup } from './cache.js'

export interface GuardedCacheOptions {
  cache: Cache
  logger: WarnLogger
  /** How long a cache call may take before it counts as failed; 0 for no limit. */
  timeoutMs?: number
}

/**
 * A Cache for callers that treat it as an optimisation only: no call throws or stalls. A
 * failure or an answer slower than `timeoutMs` logs a throttled warning and counts as
 * nothing found (get, lookup), not stored (add, setIfUnchanged) or done (set, invalidate).
 *
 * A set or an invalidation that fails may leave an entry that no longer matches the source,
 * and nothing records which. So this instance turns dirty: it uses the cache again only once
 * a new epoch has made every earlier entry unusable, for every instance. Until then it reads
 * from the source. recover() bumps the epoch as soon as the cache is reachable again; any
 * call while dirty tries it first.
 */
export class GuardedCache {
  private readonly cache: Cache
  private readonly warnings: WarnThrottle
  private readonly timeoutMs: number
  // Writes that failed, and how many of them the last epoch bump covers: dirty while unequal.
  private failedWrites = 0
  private coveredWrites = 0
  private recovery?: Promise<boolean>

  constructor({ cache, logger, timeoutMs = 150 }: GuardedCacheOptions) {
    this.cache = cache
    this.warnings = new WarnThrottle(logger)
    this.timeoutMs = timeoutMs
  }

  async get<T>(key: string): Promise<T | undefined> {
    const usable = this.usable()
    if (usable !== true && !(await usable)) return undefined
    return (await this.attempt('get', () => this.cache.get<T>(key)))?.answer
  }

  /**
   * get(), answered at once when it can be: by a cache in this process that is usable now,
   * as it is on every read but those that follow a failed write.
   */
  getSoon<T>(key: string): T | undefined | Promise<T | undefined> {
    if (this.cache.getNow && this.usable() === true) return this.cache.getNow<T>(key)
    return this.get<T>(key)
  }

  /** Undefined when the cache cannot be used: then nothing may be written back either. */
  async lookup<T>(key: string): Promise<Lookup<T> | undefined> {
    if (!(await this.usable())) return undefined
    return (await this.attempt('lookup', () => this.cache.lookup<T>(key)))?.answer
  }

  async setIfUnchanged<T>(key: string, value: T, ttlSeconds: number, stamp: string) {
    if (!(await this.usable())) return false
    const stored = await this.attempt('setIfUnchanged', () =>
      this.cache.setIfUnchanged(key, value, ttlSeconds, stamp),
    )
    return stored?.answer ?? false
  }

  async add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean> {
    if (!(await this.usable())) return false
    return (
      (await this.attempt('add', () => this.cache.add(key, value, ttlSeconds)))?.answer ?? false
    )
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    await this.write('set', () => this.cache.set(key, value, ttlSeconds))
  }

  async invalidate(...keys: string[]): Promise<void> {
    await this.write('invalidate', () => this.cache.invalidate(...keys))
  }

  /** Call when the cache is reachable again: a dirty instance bumps the epoch now. */
  async recover(): Promise<void> {
    await this.usable()
  }

  private async write(operation: string, call: () => Promise<void>): Promise<void> {
    const delivered = (await this.usable()) && (await this.attempt(operation, call)) !== undefined
    if (!delivered) this.failedWrites++
  }

  private usable(): Promise<boolean> | boolean {
    if (this.coveredWrites === this.failedWrites) return true
    this.recovery ??= this.bumpEpoch().finally(() => {
      this.recovery = undefined
    })
    return this.recovery
  }

  private async bumpEpoch(): Promise<boolean> {
    // Only the failures seen before the bump is sent are sure to be covered by it.
    const upTo = this.failedWrites
    if (!(await this.attempt('newEpoch', () => this.cache.newEpoch()))) return false
    this.warnings.warn(
      { undelivered: upTo - this.coveredWrites },
      'cache writes were lost; a new cache epoch retired every earlier entry',
    )
    this.coveredWrites = Math.max(this.coveredWrites, upTo)
    return this.coveredWrites === this.failedWrites
  }

  /**
   * The call's answer, boxed so a void one still tells success; undefined if it failed. One
   * promise and at most one timer per call: it runs for every cached list read.
   */
  private attempt<R>(
    operation: string,
    call: () => Promise<R>,
  ): Promise<{ answer: R } | undefined> {
    const failed = (err: unknown) => {
      this.warnings.warn({ err, operation }, 'cache unavailable; reading from the source')
      return undefined
    }
    let pending: Promise<R>
    try {
      pending = call()
    } catch (err) {
      return Promise.resolve(failed(err))
    }
    if (this.timeoutMs === 0) return pending.then((answer) => ({ answer }), failed)
    return new Promise((resolve) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        resolve(failed(new Error(`cache did not answer within ${this.timeoutMs} ms`)))
      }, this.timeoutMs)
      pending.then(
        (answer) => {
          clearTimeout(timer)
          resolve({ answer })
        },
        (err: unknown) => {
          clearTimeout(timer)
          if (!late) resolve(failed(err))
        },
      )
    })
  }
}
