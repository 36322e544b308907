import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Logger } from './logger.js'
import { WarnThrottle } from './warn-throttle.js'

export interface WindowCount {
  /** Hits in the current window, this one included. */
  current: number
  /** Milliseconds until the window resets. */
  ttl: number
}

// Atomic on the server: the first hit of a window starts its expiry.
const HIT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {current, ttl}`
const HIT_SHA = createHash('sha1').update(HIT).digest('hex')

// Takes back one hit, but only in the window that counted it: that window's remaining time
// can only have shrunk since the hit (ARGV[1]), while a window started after it has (for
// any refund sooner than a whole window later) more left.
const REFUND = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 and ttl <= tonumber(ARGV[1]) and tonumber(redis.call('GET', KEYS[1])) > 0 then
  return redis.call('DECR', KEYS[1])
end
return -1`

const MAX_LOCAL_KEYS = 100_000

/**
 * Fixed-window counters, in Redis when there is one so every instance shares them. When
 * Redis is absent or failing, each instance counts in memory instead: limits get looser
 * by the number of instances, never lifted.
 */
export class FixedWindowCounter {
  private readonly local = new Map<string, { current: number; resetAt: number }>()

  private readonly warnings: WarnThrottle

  constructor(
    private readonly redis: Redis | undefined,
    logger: Logger,
    /** Namespaces every key, so deployments (or test runs) can share one Redis. */
    private readonly prefix = 'satchel:',
  ) {
    this.warnings = new WarnThrottle(logger)
  }

  async hit(name: string, windowMs: number): Promise<WindowCount> {
    const key = this.prefix + name
    if (this.redis && this.redis.status === 'ready') {
      try {
        const [current, ttl] = (await this.evalHit(this.redis, key, windowMs)) as [number, number]
        return { current, ttl }
      } catch (err) {
        this.warn(err)
      }
    }
    return this.hitLocal(key, windowMs)
  }

  /**
   * hit(), at once when this instance counts in memory (no Redis, or Redis down); undefined
   * when the count is Redis's to give, and only hit() can.
   */
  hitNow(name: string, windowMs: number): WindowCount | undefined {
    if (this.redis?.status === 'ready') return undefined
    return this.hitLocal(this.prefix + name, windowMs)
  }

  /**
   * By its SHA: the script's body went with every count otherwise, a request's largest write
   * to Redis. Redis knows the script after its first EVAL (again after a restart or a flush).
   */
  private async evalHit(redis: Redis, key: string, windowMs: number) {
    try {
      return await redis.evalsha(HIT_SHA, 1, key, windowMs)
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      return redis.eval(HIT, 1, key, windowMs)
    }
  }

  /** Takes back a hit this counter returned, unless its window has ended since. */
  async refund(name: string, counted: WindowCount): Promise<void> {
    const key = this.prefix + name
    if (this.redis && this.redis.status === 'ready') {
      // A refund lost to a failing Redis only leaves the limit a little tighter.
      await this.redis.eval(REFUND, 1, key, counted.ttl).catch((err) => this.warn(err))
      return
    }
    const window = this.local.get(key)
    const left = window ? window.resetAt - Date.now() : 0
    if (window && left > 0 && left <= counted.ttl && window.current > 0) window.current--
  }

  async peek(name: string): Promise<WindowCount> {
    const key = this.prefix + name
    if (this.redis && this.redis.status === 'ready') {
      try {
        const [current, ttl] = await Promise.all([this.redis.get(key), this.redis.pttl(key)])
        return { current: Number(current ?? 0), ttl: Math.max(ttl, 0) }
      } catch (err) {
        this.warn(err)
      }
    }
    const window = this.local.get(key)
    if (!window || window.resetAt <= Date.now()) return { current: 0, ttl: 0 }
    return { current: window.current, ttl: window.resetAt - Date.now() }
  }

  private hitLocal(key: string, windowMs: number): WindowCount {
    const now = Date.now()
    let window = this.local.get(key)
    if (!window || window.resetAt <= now) {
      if (this.local.size >= MAX_LOCAL_KEYS) this.prune(now)
      window = { current: 0, resetAt: now + windowMs }
      this.local.set(key, window)
    }
    window.current++
    return { current: window.current, ttl: window.resetAt - now }
  }

  private prune(now: number) {
    for (const [key, window] of this.local) if (window.resetAt <= now) this.local.delete(key)
  }

  private warn(err: unknown) {
    this.warnings.warn({ err }, 'redis unavailable; counting limits in this instance only')
  }
}
