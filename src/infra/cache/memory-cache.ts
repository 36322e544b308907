import { LruMap } from '../lru-map.js'
import type { Cache, Lookup } from './cache.js'

// How long a miss keeps its mark: a load slower than this is not stored.
const MARK_TTL_MS = 30_000

type Entry =
  | { json: string; expiresAt: number }
  /** Left by a miss: the load it started may store its value while this mark is in place. */
  | { mark: string; expiresAt: number }

/**
 * An in-process LRU cache for when there is no Redis. It keeps JSON text rather than
 * objects so callers cannot change an entry through a reference, and so it behaves as
 * the Redis cache does. Expired entries are dropped when read or when they reach the
 * least-recently-used end, so no timer is needed.
 */
export class MemoryCache implements Cache {
  private entries: LruMap<string, Entry>
  // Marks are never reused, so a mark that was removed (or evicted) never matches again.
  private marks = 0

  private readonly maxEntries: number

  constructor({ maxEntries = 10_000 }: { maxEntries?: number } = {}) {
    this.maxEntries = maxEntries
    this.entries = new LruMap(maxEntries)
  }

  async get<T>(key: string): Promise<T | undefined> {
    return this.getNow(key)
  }

  getNow<T>(key: string): T | undefined {
    const entry = this.live(key)
    return entry && 'json' in entry ? (JSON.parse(entry.json) as T) : undefined
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    this.entries.set(key, {
      json: JSON.stringify(value),
      expiresAt: Date.now() + ttlSeconds * 1000,
    })
  }

  async add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean> {
    const entry = this.live(key)
    if (entry && 'json' in entry) return false
    await this.set(key, value, ttlSeconds)
    return true
  }

  async lookup<T>(key: string): Promise<Lookup<T>> {
    const entry = this.live(key)
    if (entry && 'json' in entry) return { hit: true, value: JSON.parse(entry.json) as T }
    if (entry) return { hit: false, stamp: entry.mark }
    const mark = String(++this.marks)
    this.entries.set(key, { mark, expiresAt: Date.now() + MARK_TTL_MS })
    return { hit: false, stamp: mark }
  }

  async setIfUnchanged<T>(
    key: string,
    value: T,
    ttlSeconds: number,
    stamp: string,
  ): Promise<boolean> {
    const entry = this.live(key)
    if (!entry || !('mark' in entry) || entry.mark !== stamp) return false
    await this.set(key, value, ttlSeconds)
    return true
  }

  async invalidate(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key)
  }

  async newEpoch(): Promise<void> {
    this.entries = new LruMap(this.maxEntries)
  }

  private live(key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined || entry.expiresAt > Date.now()) return entry
    this.entries.delete(key)
    return undefined
  }
}
