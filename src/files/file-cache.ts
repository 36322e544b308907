import type { ReadThroughCache } from '../infra/cache/read-through-cache.js'
import type { FileRecord, FilesRepository } from './files-repository.js'

type CachedFile = Omit<FileRecord, 'created_at' | 'updated_at' | 'expires_at'> & {
  created_at: string
  updated_at: string
  expires_at: string | null
}

/**
 * File metadata by id, read through the cache. Entries are keyed by id alone and the owner
 * is checked after the read, so one user's lookup can never be answered with another's
 * file; expiry is checked after the read too, since an entry may outlive its file's expiry.
 * Every write to a file calls invalidate() before it returns; from then on no instance
 * serves the old metadata (see ReadThroughCache).
 */
export class FileCache {
  constructor(
    private readonly cache: ReadThroughCache,
    private readonly files: FilesRepository,
    private readonly ttlSeconds: number,
  ) {}

  async findVisible(ownerId: string, id: string): Promise<FileRecord | undefined> {
    const file = await this.findVisibleById(id)
    return file?.owner_id === ownerId ? file : undefined
  }

  async findVisibleById(id: string): Promise<FileRecord | undefined> {
    const cached = await this.cache.getOrLoad<CachedFile | FileRecord>(
      fileCacheKey(id),
      this.ttlSeconds,
      () => this.files.findVisibleById(id),
    )
    if (!cached) return undefined
    const file = revive(cached)
    if (file.expires_at && file.expires_at.getTime() <= Date.now()) return undefined
    return file
  }

  /** Call after committing a change to the files; never rejects. */
  invalidate(...ids: string[]): Promise<void> {
    return this.cache.invalidate(...ids.map(fileCacheKey))
  }
}

/** The cache key of a file's metadata, for tools that change files outside the service. */
export const fileCacheKey = (id: string) => `file:${id}`

// Values come back from the cache as JSON; a value loaded in this very flight is still a row.
function revive(file: CachedFile | FileRecord): FileRecord {
  const date = (value: string | Date) => (value instanceof Date ? value : new Date(value))
  return {
    ...file,
    created_at: date(file.created_at),
    updated_at: date(file.updated_at),
    expires_at: file.expires_at === null ? null : date(file.expires_at),
  }
}
