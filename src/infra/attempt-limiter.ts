import type { FixedWindowCounter } from './fixed-window.js'

/** Counts failures per key in a fixed window; used to slow password guessing. */
export class AttemptLimiter {
  constructor(
    private readonly counter: FixedWindowCounter,
    private readonly name: string,
    private readonly maxFailures: number,
    private readonly windowSeconds: number,
  ) {}

  /** Seconds until the key may try again, or 0 when it may try now. */
  async blockedFor(key: string): Promise<number> {
    const { current, ttl } = await this.counter.peek(this.key(key))
    return current >= this.maxFailures ? Math.max(1, Math.ceil(ttl / 1000)) : 0
  }

  async recordFailure(key: string): Promise<void> {
    await this.counter.hit(this.key(key), this.windowSeconds * 1000)
  }

  private key(key: string) {
    return `attempts:${this.name}:${key}`
  }
}
