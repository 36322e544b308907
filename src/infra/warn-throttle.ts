/** The part of a pino logger that warnings need. */
export interface WarnLogger {
  warn(obj: object, msg: string): void
}

const WARN_EVERY_MS = 10_000

/**
 * Logs each distinct warning at most once per interval, so an outage (Redis, the cache) or a
 * listener that throws on every event cannot flood the logs. The next warning says how many were skipped.
 */
export class WarnThrottle {
  private readonly seen = new Map<string, { at: number; suppressed: number }>()

  constructor(private readonly logger: WarnLogger) {}

  warn(obj: object, msg: string): void {
    const now = Date.now()
    const previous = this.seen.get(msg)
    if (previous && now - previous.at < WARN_EVERY_MS) {
      previous.suppressed += 1
      return
    }
    this.seen.set(msg, { at: now, suppressed: 0 })
    this.logger.warn(previous?.suppressed ? { ...obj, suppressed: previous.suppressed } : obj, msg)
  }
}
