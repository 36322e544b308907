import { randomUUID } from 'node:crypto'
import type { GuardedCache } from '../infra/cache/guarded-cache.js'
import { LruMap } from '../infra/lru-map.js'
import type { FilePage, ListQuery } from './files-service.js'

const MAX_PAGES = 1_000
// Bounds the memory the pages can take: 1,000 pages of up to 100 rows.
const MAX_ITEMS_PER_PAGE = 100
// A version only has to outlive the pages stored under it.
const VERSION_TTL_SECONDS = 24 * 3600

interface StoredPage {
  page: FilePage
  /** The tick when its load began (see `ticks`). */
  loadedAt: number
  expiresAt: number
}

/**
 * Pages of users' file lists, kept in this process. Each user's list has a version in the
 * shared cache, replaced by every change to the user's files; a page is stored under the
 * version read before it was loaded, so once a change is committed and invalidate() has
 * returned, no instance serves a page from before it. Without a cache (or while it fails)
 * reads go to `load`. A version that could not be replaced turns the cache dirty: the next
 * epoch then retires every version from before it (see GuardedCache).
 *
 * A page also lapses when a file on it expires, and after `ttlSeconds` at most. Callers share
 * the page objects: treat them as read-only.
 */
export class FileListCache {
  private readonly pages = new LruMap<string, StoredPage>(MAX_PAGES)
  private readonly flights = new Map<string, { promise: Promise<FilePage>; loadedAt: number }>()
  // The tick of this process's last change to each user's files: guards its own pages even
  // while the shared cache cannot take a new version. Losing an entry only costs that guard.
  private readonly changedAt = new LruMap<string, number>(10_000)
  // Orders changes and loads exactly; a clock could give both the same millisecond.
  private ticks = 0

  constructor(
    private readonly versions: GuardedCache,
    private readonly ttlSeconds: number,
    private readonly onRead?: (hit: boolean) => void,
  ) {}

  /** The page, at once when this process holds it and can tell its version at once. */
  page(
    ownerId: string,
    query: ListQuery,
    load: () => Promise<FilePage>,
  ): FilePage | Promise<FilePage> {
    const version = this.versions.getSoon<string>(versionKey(ownerId))
    if (version instanceof Promise) {
      return version.then((known) => this.pageAt(ownerId, known, query, load))
    }
    return this.pageAt(ownerId, version, query, load)
  }

  private pageAt(
    ownerId: string,
    known: string | undefined,
    query: ListQuery,
    load: () => Promise<FilePage>,
  ): FilePage | Promise<FilePage> {
    if (known === undefined) {
      return this.newVersion(ownerId).then((version) =>
        version === undefined ? load() : this.pageAt(ownerId, version, query, load),
      )
    }
    const key = `${ownerId}/${known}/${JSON.stringify(query)}`
    const changed = this.lastChange(ownerId)
    const stored = this.pages.get(key)
    if (stored && stored.expiresAt > Date.now() && stored.loadedAt > changed) {
      this.onRead?.(true)
      return stored.page
    }
    this.onRead?.(false)
    const current = this.flights.get(key)
    if (current && current.loadedAt > changed) return current.promise
    const loadedAt = ++this.ticks
    const flight = { promise: this.load(key, loadedAt, load), loadedAt }
    this.flights.set(key, flight)
    return flight.promise.finally(() => {
      if (this.flights.get(key) === flight) this.flights.delete(key)
    })
  }

  /** Call after committing any change to what the user's list shows. Never rejects. */
  async invalidate(ownerId: string): Promise<void> {
    this.changedAt.set(ownerId, ++this.ticks)
    await this.versions.set(versionKey(ownerId), randomUUID(), VERSION_TTL_SECONDS)
  }

  private async load(key: string, loadedAt: number, load: () => Promise<FilePage>) {
    const startedAt = Date.now()
    const page = await load()
    if (page.items.length <= MAX_ITEMS_PER_PAGE) {
      const expiresAt = Math.min(startedAt + this.ttlSeconds * 1000, page.firstExpiry ?? Infinity)
      this.pages.set(key, { page, loadedAt, expiresAt })
    }
    return page
  }

  private lastChange(ownerId: string): number {
    return this.changedAt.get(ownerId) ?? 0
  }

  /** A version for a list that has none; undefined when the shared cache cannot be used. */
  private async newVersion(ownerId: string): Promise<string | undefined> {
    const key = versionKey(ownerId)
    const fresh = randomUUID()
    // Another instance may have created one first; theirs is the version then.
    if (await this.versions.add(key, fresh, VERSION_TTL_SECONDS)) return fresh
    return this.versions.get<string>(key)
  }
}

const versionKey = (ownerId: string) => `files-list-version:${ownerId}`

