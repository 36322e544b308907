import { randomUUID } from 'node:crypto'
import type { GuardedCache } from '../infra/cache/guarded-cache.js'
import { LruMap } from '../infra/lru-map.js'
import type { FilePage, ListQuery } from './files-service.js'

// Bounds the memory the pages can take: 100 users' 10 pages of up to 100 rows.
const MAX_OWNERS = 100
const MAX_PAGES_PER_OWNER = 10
const MAX_ITEMS_PER_PAGE = 100
// A version only has to outlive the pages stored under it.
const VERSION_TTL_SECONDS = 24 * 3600

/** What a page's load began under. */
interface LoadStamp {
  /** The list version read before it. */
  version: string
  /** The tick when it began (see `ticks`). */
  loadedAt: number
}

interface StoredPage extends LoadStamp {
  page: FilePage
  expiresAt: number
}

interface Flight extends LoadStamp {
  promise: Promise<FilePage>
}

/**
 * One user's pages, by the JSON of their query. A request finds them through the user's id
 * (the same string every request, whose hash V8 keeps) and then a short key: one long key
 * built per request, owner, version and query, cost more than the rest of the lookup.
 */
interface OwnerPages {
  pages: Map<string, StoredPage>
  /** Loads in progress, by the JSON of their query: requests for the same page share one. */
  flights: Map<string, Flight>
  /** The key of the user's list version in the shared cache, made once. */
  versionKey: string
  /** The tick of this process's last change to the user's files. */
  changedAt: number
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
  // With each user's last change here, which guards this process's pages even while the
  // shared cache cannot take a new version: a user forgotten loses that guard, and pages.
  private readonly owners = new LruMap<string, OwnerPages>(MAX_OWNERS)
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
    const owner = this.owner(ownerId)
    const version = this.versions.getSoon<string>(owner.versionKey)
    if (version instanceof Promise) {
      return version.then((known) => this.pageAt(owner, known, query, load))
    }
    return this.pageAt(owner, version, query, load)
  }

  private pageAt(
    owner: OwnerPages,
    known: string | undefined,
    query: ListQuery,
    load: () => Promise<FilePage>,
  ): FilePage | Promise<FilePage> {
    if (known === undefined) {
      return this.newVersion(owner).then((version) =>
        version === undefined ? load() : this.pageAt(owner, version, query, load),
      )
    }
    const queryKey = JSON.stringify(query)
    const stored = owner.pages.get(queryKey)
    if (isCurrent(stored, known, owner) && stored.expiresAt > Date.now()) {
      this.onRead?.(true)
      return stored.page
    }
    this.onRead?.(false)
    const joined = owner.flights.get(queryKey)
    if (isCurrent(joined, known, owner)) return joined.promise
    const stamp = { version: known, loadedAt: ++this.ticks }
    const flight = { ...stamp, promise: this.load(owner, queryKey, stamp, load) }
    owner.flights.set(queryKey, flight)
    return flight.promise.finally(() => {
      if (owner.flights.get(queryKey) === flight) owner.flights.delete(queryKey)
    })
  }

  /** Call after committing any change to what the user's list shows. Never rejects. */
  async invalidate(ownerId: string): Promise<void> {
    const owner = this.owner(ownerId)
    owner.changedAt = ++this.ticks
    await this.versions.set(owner.versionKey, randomUUID(), VERSION_TTL_SECONDS)
  }

  private owner(ownerId: string): OwnerPages {
    let owner = this.owners.get(ownerId)
    if (owner === undefined) {
      owner = {
        pages: new Map(),
        flights: new Map(),
        versionKey: `files-list-version:${ownerId}`,
        changedAt: 0,
      }
      this.owners.set(ownerId, owner)
    }
    return owner
  }

  private async load(
    owner: OwnerPages,
    queryKey: string,
    stamp: LoadStamp,
    load: () => Promise<FilePage>,
  ) {
    const startedAt = Date.now()
    const page = await load()
    if (page.items.length <= MAX_ITEMS_PER_PAGE) {
      const expiresAt = Math.min(startedAt + this.ttlSeconds * 1000, page.firstExpiry ?? Infinity)
      const { pages } = owner
      pages.delete(queryKey)
      // The page stored longest ago goes first.
      if (pages.size >= MAX_PAGES_PER_OWNER) pages.delete(pages.keys().next().value!)
      pages.set(queryKey, { ...stamp, page, expiresAt })
    }
    return page
  }

  /** A version for a list that has none; undefined when the shared cache cannot be used. */
  private async newVersion({ versionKey }: OwnerPages): Promise<string | undefined> {
    const fresh = randomUUID()
    // Another instance may have created one first; theirs is the version then.
    if (await this.versions.add(versionKey, fresh, VERSION_TTL_SECONDS)) return fresh
    return this.versions.get<string>(versionKey)
  }
}

/** Whether a load began under this version and after the owner's last change here. */
function isCurrent(
  stamp: LoadStamp | undefined,
  version: string,
  { changedAt }: OwnerPages,
): stamp is LoadStamp {
  return stamp?.version === version && stamp.loadedAt > changedAt
}
