import type { Cache } from './cache.js'

interface Entry {
  json: string
  expiresAt: number
}

/**
 * An in-process LRU cache for when there is no Redis. It keeps JSON text rather than
 * objects so callers cannot change an entry through a reference, and so it behaves as
 * the Redis cache does. Expired entries are dropped when read or when they reach the
 * least-recently-used end, so no timer is needed.
 */
export class MemoryCache implements Cache {
  // A Map iterates in insertion order; re-inserting on every use keeps it in LRU order.
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number

  constructor({ maxEntries = 10_000 }: { maxEntries?: number } = {}) {
    this.maxEntries = maxEntries
  }

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    this.entries.delete(key)
    if (entry.expiresAt <= Date.now()) return undefined
    this.entries.set(key, entry)
    return JSON.parse(entry.json) as T
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    this.entries.delete(key)
    this.entries.set(key, {
      json: JSON.stringify(value),
      expiresAt: Date.now() + ttlSeconds * 1000,
    })
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key)
  }
}
