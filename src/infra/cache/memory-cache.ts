import { LruMap } from '../lru-map.js'
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
  private readonly entries: LruMap<string, Entry>

  constructor({ maxEntries = 10_000 }: { maxEntries?: number } = {}) {
    this.entries = new LruMap(maxEntries)
  }

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.live(key)
    return entry === undefined ? undefined : (JSON.parse(entry.json) as T)
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    this.entries.set(key, {
      json: JSON.stringify(value),
      expiresAt: Date.now() + ttlSeconds * 1000,
    })
  }

  async add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean> {
    if (this.live(key) !== undefined) return false
    await this.set(key, value, ttlSeconds)
    return true
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key)
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined || entry.expiresAt > Date.now()) return entry
    this.entries.delete(key)
    return undefined
  }
}
