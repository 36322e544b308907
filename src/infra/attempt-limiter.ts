import type { FixedWindowCounter, WindowCount } from './fixed-window.js'

/** Either the key is over its budget and nothing was checked, or the check's result. */
export type Attempt<T> =
  | { blocked: true; retryAfterSeconds: number }
  | { blocked: false; passed: T | undefined }

export interface AttemptLimiterOptions {
  /** Counts across instances: in Redis when there is one. */
  shared: FixedWindowCounter
  /**
   * Counts in this process only. When a Redis call fails or times out, `shared` counts that
   * hit in-process, apart from the hits Redis holds; this count holds every attempt made
   * here, so a Redis hiccup never lets one instance verify more than the limit.
   */
  local: FixedWindowCounter
  name: string
  maxFailures: number
  windowSeconds: number
}

/**
 * Limits failed attempts (password guesses) per key to `maxFailures` in a fixed window.
 * An attempt is counted before it is checked, in one atomic increment: checking first and
 * recording the failure after would let any number of parallel guesses pass the check
 * before the first failure was recorded. An attempt that passes, or whose check throws,
 * gives its count back, so only failures use up the budget.
 */
export class AttemptLimiter {
  constructor(private readonly options: AttemptLimiterOptions) {}

  /**
   * Counts one attempt and, within the budget, runs `check`: a value means it passed,
   * undefined that it failed. Over the budget, `check` never runs.
   */
  async attempt<T>(key: string, check: () => Promise<T | undefined>): Promise<Attempt<T>> {
    const { shared, local, maxFailures, windowSeconds } = this.options
    const name = this.key(key)
    const counts = await Promise.all([
      shared.hit(name, windowSeconds * 1000),
      local.hit(name, windowSeconds * 1000),
    ])
    const over = counts.filter((count) => count.current > maxFailures)
    if (over.length > 0) return { blocked: true, retryAfterSeconds: retryAfter(over) }
    const refund = () =>
      Promise.all([shared.refund(name, counts[0]), local.refund(name, counts[1])])
    let passed: T | undefined
    try {
      passed = await check()
    } catch (err) {
      await refund()
      throw err
    }
    if (passed !== undefined) await refund()
    return { blocked: false, passed }
  }

  /** Seconds until the key may try again, or 0 when it may; counts nothing. */
  async blockedFor(key: string): Promise<number> {
    const { shared, local, maxFailures } = this.options
    const name = this.key(key)
    const counts = await Promise.all([shared.peek(name), local.peek(name)])
    const over = counts.filter((count) => count.current >= maxFailures)
    return over.length > 0 ? retryAfter(over) : 0
  }

  private key(key: string) {
    return `attempts:${this.options.name}:${key}`
  }
}

function retryAfter(counts: WindowCount[]): number {
  return Math.max(1, ...counts.map((count) => Math.ceil(count.ttl / 1000)))
}
