import type { GuardedCache } from './guarded-cache.js'

export interface ReadThroughOptions {
  /** The cache, guarded: its failures and stalls count as misses. */
  cache: GuardedCache
  /** Told whether each read was answered by the cache (for metrics). */
  onRead?: (hit: boolean) => void
}

interface Flight {
  promise: Promise<unknown>
  /** Set by delete(): what this flight loaded may predate the change, so it is not stored. */
  invalidated: boolean
}

/**
 * Reads through a Cache to the source of truth. The cache is an optimisation only: when it
 * fails or is slow, reads go to `load` and a warning is logged, never an error thrown.
 *
 * Concurrent reads of one key in this process share one cache read and one load. Callers
 * that share a flight get the same object, so treat results as read-only.
 *
 * Writers call delete() after committing a change. It also detaches any flight under way,
 * so a load that began before the change never stores its (possibly stale) value, and reads
 * that start afterwards load afresh. That holds within one process, for one ReadThroughCache
 * per Cache. Across instances a window remains: another instance's load may read the old
 * row, lose the race to our delete and then store it. The TTL bounds how long that stale
 * entry lives, which is why it should stay short.
 */
export class ReadThroughCache {
  private readonly cache: GuardedCache
  private readonly onRead?: (hit: boolean) => void
  private readonly flights = new Map<string, Flight>()

  constructor({ cache, onRead }: ReadThroughOptions) {
    this.cache = cache
    this.onRead = onRead
  }

  /**
   * The cached value, or else what `load` returns, stored for `ttlSeconds`. An undefined
   * result (nothing found) is not stored, so a row created later is seen at once.
   */
  getOrLoad<T>(
    key: string,
    ttlSeconds: number,
    load: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const current = this.flights.get(key)
    if (current) return current.promise as Promise<T | undefined>

    const flight: Flight = { promise: Promise.resolve(), invalidated: false }
    flight.promise = this.fetch(key, ttlSeconds, load, flight).finally(() => {
      // After a delete(), a newer flight may hold the key; that one must stay.
      if (this.flights.get(key) === flight) this.flights.delete(key)
    })
    this.flights.set(key, flight)
    return flight.promise as Promise<T | undefined>
  }

  /** Forgets the keys here and in the cache. Never rejects: a failure is logged. */
  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) {
      const flight = this.flights.get(key)
      if (!flight) continue
      flight.invalidated = true
      this.flights.delete(key)
    }
    await this.cache.delete(...keys)
  }

  private async fetch<T>(
    key: string,
    ttlSeconds: number,
    load: () => Promise<T | undefined>,
    flight: Flight,
  ): Promise<T | undefined> {
    const cached = await this.cache.get<T>(key)
    this.onRead?.(cached !== undefined)
    if (cached !== undefined) return cached
    const value = await load()
    // Checked just before the write is issued: a delete() from here on is issued after it,
    // and each adapter applies one connection's commands in order, so the delete wins.
    if (value !== undefined && !flight.invalidated) {
      // Not awaited: the caller has its value and need not wait for the cache.
      void this.cache.set(key, value, ttlSeconds)
    }
    return value
  }
}
