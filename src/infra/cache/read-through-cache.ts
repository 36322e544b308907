import type { GuardedCache } from './guarded-cache.js'

export interface ReadThroughOptions {
  /** The cache, guarded: its failures and stalls count as misses. */
  cache: GuardedCache
  /** Told whether each read was answered by the cache (for metrics). */
  onRead?: (hit: boolean) => void
}

/**
 * Reads through a Cache to the source of truth. The cache is an optimisation only: when it
 * fails or is slow, reads go to `load` and a warning is logged, never an error thrown.
 *
 * Writers call invalidate() after committing a change, and no read that begins after it
 * returns sees the old value, on any instance: each miss gets a stamp from the cache before
 * it loads, and the cache refuses the write-back if the key was invalidated since (atomically,
 * in Redis). So a load that read the row before the change cannot store it after.
 *
 * Concurrent misses of one key in this process share one load, but only those with the same
 * stamp: a read that begins after an invalidation gets a new stamp and loads afresh rather
 * than joining a load that may predate the change. Callers that share a load get the same
 * object, so treat results as read-only. While the cache cannot be used, every read loads
 * on its own: with no stamp there is no telling whether a load under way predates a change.
 */
export class ReadThroughCache {
  private readonly cache: GuardedCache
  private readonly onRead?: (hit: boolean) => void
  private readonly flights = new Map<string, Promise<unknown>>()

  constructor({ cache, onRead }: ReadThroughOptions) {
    this.cache = cache
    this.onRead = onRead
  }

  /**
   * The cached value, or else what `load` returns, stored for `ttlSeconds`. An undefined
   * result (nothing found) is not stored, so a row created later is seen at once.
   */
  async getOrLoad<T>(
    key: string,
    ttlSeconds: number,
    load: () => Promise<T | undefined>,
  ): Promise<T | undefined> {
    const found = await this.cache.lookup<T>(key)
    this.onRead?.(found?.hit === true)
    if (found?.hit) return found.value
    if (!found) return load()

    const flightKey = `${key}\n${found.stamp}`
    const current = this.flights.get(flightKey)
    if (current) return current as Promise<T | undefined>
    const loaded = load()
    this.flights.set(flightKey, loaded)
    // The flight stays open until the write-back is answered: a miss whose lookup was sent
    // before the write-back landed joins it rather than loading again.
    loaded
      .then((value) =>
        value === undefined
          ? false
          : this.cache.setIfUnchanged(key, value, ttlSeconds, found.stamp),
      )
      .catch(() => undefined)
      .finally(() => this.flights.delete(flightKey))
    return loaded
  }

  /** Forgets the keys on every instance. Never rejects: a failure is logged. */
  invalidate(...keys: string[]): Promise<void> {
    return this.cache.invalidate(...keys)
  }
}
