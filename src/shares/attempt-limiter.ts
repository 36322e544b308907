/** Counts failures per key in a fixed window; used to slow password guessing. */
export interface AttemptLimiter {
  /** Seconds until the key may try again, or 0 when it may try now. */
  blockedFor(key: string): Promise<number>
  recordFailure(key: string): Promise<void>
}

export class MemoryAttemptLimiter implements AttemptLimiter {
  private readonly windows = new Map<string, { count: number; resetAt: number }>()

  constructor(
    private readonly maxFailures: number,
    private readonly windowSeconds: number,
  ) {}

  async blockedFor(key: string): Promise<number> {
    const window = this.current(key)
    if (!window || window.count < this.maxFailures) return 0
    return Math.ceil((window.resetAt - Date.now()) / 1000)
  }

  async recordFailure(key: string): Promise<void> {
    const window = this.current(key) ?? {
      count: 0,
      resetAt: Date.now() + this.windowSeconds * 1000,
    }
    window.count++
    this.windows.set(key, window)
    if (this.windows.size > 100_000) this.prune()
  }

  private current(key: string) {
    const window = this.windows.get(key)
    if (window && window.resetAt <= Date.now()) {
      this.windows.delete(key)
      return undefined
    }
    return window
  }

  private prune() {
    const now = Date.now()
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key)
  }
}
