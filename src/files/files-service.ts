import { randomUUID } from 'node:crypto'
import { pipeline, type Readable } from 'node:stream'
import { AppError } from '../errors.js'
import { type EventBus, newEvent } from '../events/event-bus.js'
import type { Logger } from '../infra/logger.js'
import { newBlobKey } from '../storage/blob-key.js'
import type { BlobStore, ByteRange } from '../storage/blob-store.js'
import { detectContentType, HeadSniffer } from './content-type.js'
import { resolveExpiry } from './expiry.js'
import type { FileCache } from './file-cache.js'
import type { FileListCache } from './file-list-cache.js'
import { normalizeFileName } from './file-name.js'
import type { FileFilters, SortKey, SortOrder } from './file-search.js'
import { FileNotFoundError, InvalidCursorError, InvalidUploadError } from './files-errors.js'
import type { FileRecord, FilesRepository } from './files-repository.js'
import type { SignedUrls } from './signed-urls.js'

/** One part of an upload request, as the HTTP layer hands it over, in request order. */
export type UploadPart =
  | { kind: 'field'; name: string; value: string }
  | { kind: 'file'; fieldName: string; fileName: string; claimedType: string; stream: Readable }

export interface FilesServiceDeps {
  files: FilesRepository
  cache: FileCache
  lists: FileListCache
  store: BlobStore
  events: EventBus
  signedUrls: SignedUrls
  logger: Logger
}

export interface ListQuery {
  filters: FileFilters
  sort: SortKey
  order: SortOrder
  limit: number
  cursor?: string
}

export interface FilePage {
  items: FileRecord[]
  nextCursor: string | null
}

export class FilesService {
  constructor(private readonly deps: FilesServiceDeps) {}

  /**
   * Stores every file part, streaming each to the blob store. All or nothing: if any part
   * fails, the files this request already stored are removed again. `expires_in` /
   * `expires_at` fields apply to the file parts that follow them.
   */
  async upload(
    ownerId: string,
    parts: AsyncIterable<UploadPart>,
    defaultExpiry: Date | null,
  ): Promise<FileRecord[]> {
    const stored: FileRecord[] = []
    let expiresAt = defaultExpiry
    let current: string | undefined
    try {
      for await (const part of parts) {
        if (part.kind === 'field') {
          expiresAt = this.fieldExpiry(part) ?? expiresAt
          continue
        }
        if (part.fieldName !== 'file') {
          part.stream.resume()
          throw new InvalidUploadError(
            `Unexpected file field "${part.fieldName}"; files go in parts named "file"`,
          )
        }
        current = part.fileName
        stored.push(await this.storeOne(ownerId, part, expiresAt))
        // Before the event: a client that lists on upload.completed must see the file.
        await this.deps.lists.invalidate(ownerId)
        await this.deps.events.publish(
          newEvent('upload.completed', ownerId, fileEvent(stored.at(-1)!)),
        )
      }
    } catch (err) {
      await Promise.all(
        stored.map((file) => this.remove(file.owner_id, file.id).catch(() => undefined)),
      )
      const reason = err instanceof AppError ? err.code : 'internal_error'
      await this.deps.events.publish(
        newEvent('upload.failed', ownerId, { name: current ?? null, reason }),
      )
      throw err
    }
    if (stored.length === 0)
      throw new InvalidUploadError('The upload contains no part named "file"')
    return stored
  }

  async get(ownerId: string, id: string): Promise<FileRecord> {
    const file = await this.deps.cache.findVisible(ownerId, id)
    if (!file) throw new FileNotFoundError()
    return file
  }

  list(ownerId: string, query: ListQuery): Promise<FilePage> {
    return this.deps.lists.page(ownerId, query, () => this.search(ownerId, query))
  }

  private async search(ownerId: string, query: ListQuery): Promise<FilePage> {
    const { limit, sort, order, cursor } = query
    const after = cursor === undefined ? undefined : decodeCursor(cursor, sort, order)
    const rows = await this.deps.files.search(ownerId, query.filters, {
      sort,
      order,
      limit: limit + 1,
      after,
    })
    const items = rows.slice(0, limit)
    const last = items.at(-1)
    const nextCursor = rows.length > limit && last ? encodeCursor(last, sort, order) : null
    return { items, nextCursor }
  }

  async update(
    ownerId: string,
    id: string,
    changes: { name?: string; expiresIn?: number; expiresAt?: string | null },
  ): Promise<FileRecord> {
    const name = changes.name === undefined ? undefined : normalizeFileName(changes.name)
    const expires_at = resolveExpiry(changes)
    const file = await this.deps.files.update(ownerId, id, { name, expires_at })
    if (!file) throw new FileNotFoundError()
    await this.forgetCached(ownerId, id)
    return file
  }

  /** Hides the file at once, then removes its blob and row; the sweeper retries what fails. */
  async remove(ownerId: string, id: string): Promise<void> {
    if (!(await this.deps.files.markDeleted(ownerId, id))) throw new FileNotFoundError()
    await this.forgetCached(ownerId, id)
    await this.deps.events.publish(newEvent('file.deleted', ownerId, { id }))
    const { failed } = await this.deps.files.purgeDeleted({ ids: [id], limit: 1 }, (key) =>
      this.deps.store.delete(key),
    )
    if (failed > 0)
      this.deps.logger.warn({ fileId: id }, 'blob removal failed; the sweeper will retry')
  }

  /** The file behind a signed download link, which needs no account. */
  async getSigned(id: string, expires: number, signature: string): Promise<FileRecord> {
    this.deps.signedUrls.verify(id, expires, signature)
    const file = await this.deps.cache.findVisibleById(id)
    if (!file) throw new FileNotFoundError()
    return file
  }

  openContent(file: FileRecord, range?: ByteRange): Promise<Readable> {
    return this.deps.store.get(file.storage_key, range, file.envelope ?? undefined)
  }

  contentUrl(file: FileRecord): string {
    return this.deps.signedUrls.contentUrl(file.id)
  }

  /** Until this changes, contentUrl() gives each file the same URL. */
  contentUrlExpiry(): number {
    return this.deps.signedUrls.currentExpiry()
  }

  /** After a change to a file is committed: its metadata and its owner's list pages. */
  private async forgetCached(ownerId: string, id: string) {
    await Promise.all([this.deps.cache.invalidate(id), this.deps.lists.invalidate(ownerId)])
  }

  private async storeOne(
    ownerId: string,
    part: Extract<UploadPart, { kind: 'file' }>,
    expiresAt: Date | null,
  ): Promise<FileRecord> {
    const { files, store } = this.deps
    let name: string
    try {
      name = normalizeFileName(part.fileName)
    } catch (err) {
      part.stream.resume()
      throw err
    }
    const id = randomUUID()
    const key = newBlobKey()
    // The row exists (invisible, pending) before any byte is stored, so a crash at any
    // point leaves something the sweeper can find and clean up.
    await files.insertPending({
      id,
      ownerId,
      name,
      storageKey: key,
      driver: store.driver,
      claimedContentType: part.claimedType || null,
      expiresAt,
    })
    const sniffer = new HeadSniffer()
    // pipeline, not pipe: the part may already have failed, and only pipeline reports that.
    pipeline(part.stream, sniffer, () => {})
    try {
      const { size, sha256, envelope } = await store.put(key, sniffer)
      const contentType = await detectContentType(sniffer.head(), name)
      const file = await files.markAvailable(id, {
        size,
        sha256,
        contentType,
        envelope: envelope ?? null,
      })
      if (!file) throw new Error(`pending file ${id} vanished during upload`)
      return file
    } catch (err) {
      part.stream.resume()
      await this.discardPending(id, key)
      throw err
    }
  }

  /**
   * Removes what a failed upload left. If the store cannot delete the partial blob now, the
   * row is marked deleted instead, so the next sweep retries at once rather than after the
   * abandoned-upload grace period.
   */
  private async discardPending(id: string, key: string) {
    try {
      await this.deps.store.delete(key)
      await this.deps.files.removePending(id)
    } catch (err) {
      this.deps.logger.warn(
        { err, fileId: id },
        'could not discard a failed upload; the sweeper will',
      )
      await this.deps.files.markPendingDeleted(id).catch(() => undefined)
    }
  }

  private fieldExpiry(field: { name: string; value: string }): Date | null | undefined {
    if (field.name === 'expires_in') {
      const seconds = Number(field.value)
      return resolveExpiry({ expiresIn: Number.isNaN(seconds) ? -1 : seconds })
    }
    if (field.name === 'expires_at') return resolveExpiry({ expiresAt: field.value })
    throw new InvalidUploadError(
      `Unknown field "${field.name}"; expected "file", "expires_in" or "expires_at"`,
    )
  }
}

// A cursor names its sort, so a cursor from one ordering is refused by another.
function encodeCursor(file: FileRecord, sort: SortKey, order: SortOrder): string {
  const value = sort === 'created_at' ? file.created_at.toISOString() : file[sort]
  return Buffer.from(JSON.stringify([sort, order, value, file.id])).toString('base64url')
}

function decodeCursor(
  cursor: string,
  sort: SortKey,
  order: SortOrder,
): { value: string | number | Date; id: string } {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))
  } catch {
    throw new InvalidCursorError()
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw new InvalidCursorError()
  const [cursorSort, cursorOrder, value, id] = parsed
  if (cursorSort !== sort || cursorOrder !== order) throw new InvalidCursorError()
  if (typeof id !== 'string' || !/^[0-9a-f-]{36}$/.test(id)) throw new InvalidCursorError()
  if (sort === 'size' && Number.isSafeInteger(value)) return { value, id }
  if (sort === 'name' && typeof value === 'string') return { value, id }
  if (sort === 'created_at' && typeof value === 'string' && !Number.isNaN(Date.parse(value))) {
    return { value: new Date(value), id }
  }
  throw new InvalidCursorError()
}

/** What an event says about a file: its metadata, without the signed URL. */
function fileEvent(file: FileRecord) {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    content_type: file.content_type,
    sha256: file.sha256,
    created_at: file.created_at.toISOString(),
    expires_at: file.expires_at?.toISOString() ?? null,
  }
}
