import { randomUUID } from 'node:crypto'
import { pipeline, type Readable } from 'node:stream'
import { AppError } from '../errors.js'
import { type EventBus, newEvent } from '../events/event-bus.js'
import { withDeadline } from '../infra/deadline.js'
import type { Logger } from '../infra/logger.js'
import { newBlobKey } from '../storage/blob-key.js'
import type { BlobStore, ByteRange } from '../storage/blob-store.js'
import type { BlobPurger } from './blob-purger.js'
import { detectContentType, HeadSniffer } from './content-type.js'
import { resolveExpiry } from './expiry.js'
import type { FileCache } from './file-cache.js'
import type { FileListCache } from './file-list-cache.js'
import { missingFileName, normalizeFileName } from './file-name.js'
import type { FileFilters, SortKey, SortOrder } from './file-search.js'
import {
  FileNotFoundError,
  InvalidCursorError,
  InvalidUploadError,
  UploadInterruptedError,
} from './files-errors.js'
import {
  type FileRecord,
  type FilesRepository,
  ID_BYTES,
  type ListedFile,
  listedFileId,
  parseListedFile,
  type StoredContent,
} from './files-repository.js'
import { QuotaMeter } from './quota-meter.js'
import type { QuotaRepository } from './quota-repository.js'
import type { SignedUrls } from './signed-urls.js'
import { UploadLease } from './upload-lease.js'

/** One part of an upload request, as the HTTP layer hands it over, in request order. */
export type UploadPart =
  | { kind: 'field'; name: string; value: string }
  | { kind: 'file'; fieldName: string; fileName: string; claimedType: string; stream: Readable }

/** A part whose bytes are stored, under a row not yet visible. */
interface StagedFile {
  id: string
  content: StoredContent
}

export interface FilesServiceDeps {
  files: FilesRepository
  quotas: QuotaRepository
  purger: BlobPurger
  /** How long an upload holds its rows without renewing (UPLOAD_GRACE_SECONDS). */
  uploadLeaseMs: number
  /** How long a request waits for blob removal before leaving it to the background. */
  purgeWaitMs: number
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
  /** Each file's JSON object up to its signed URL (ListedPage). */
  items: string[]
  /** Their ids, as ListedPage.ids. */
  ids: Uint8Array
  nextCursor: string | null
  /** When the first file on the page, or the one after it, expires (ms); null if none does. */
  firstExpiry: number | null
}

export class FilesService {
  constructor(private readonly deps: FilesServiceDeps) {}

  /**
   * Stores every file part, streaming each to the blob store, then makes them all visible in
   * one commit: all or nothing. Until then each file is a pending row the uploader holds by
   * a lease, so a failure removes them and a crash leaves rows the sweeper reaps once the
   * lease lapses. Caches and events learn of the files only after the commit.
   * `expires_in` / `expires_at` fields apply to the file parts that follow them.
   */
  async upload(
    ownerId: string,
    parts: AsyncIterable<UploadPart>,
    defaultExpiry: Date | null,
  ): Promise<FileRecord[]> {
    const lease = new UploadLease(this.deps.files, this.deps.uploadLeaseMs, this.deps.logger)
    let current: string | undefined
    let files: FileRecord[]
    try {
      const staged: StagedFile[] = []
      let expiresAt = defaultExpiry
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
        staged.push(await this.stage(ownerId, part, expiresAt, lease))
      }
      if (staged.length === 0)
        throw new InvalidUploadError('The upload contains no part named "file"')
      files = await this.commit(staged)
    } catch (err) {
      await this.discard(lease.ids)
      const reason = err instanceof AppError ? err.code : 'internal_error'
      await this.deps.events.publish(
        newEvent('upload.failed', ownerId, { name: current ?? null, reason }),
      )
      throw err
    } finally {
      lease.release()
    }
    // Before the events: a client that lists on upload.completed must see the files.
    await this.deps.lists.invalidate(ownerId)
    for (const file of files) {
      await this.deps.events.publish(newEvent('upload.completed', ownerId, fileEvent(file)))
    }
    return files
  }

  async get(ownerId: string, id: string): Promise<FileRecord> {
    const file = await this.deps.cache.findVisible(ownerId, id)
    if (!file) throw new FileNotFoundError()
    return file
  }

  list(ownerId: string, query: ListQuery): FilePage | Promise<FilePage> {
    return this.deps.lists.page(ownerId, query, () => this.search(ownerId, query))
  }

  private async search(ownerId: string, query: ListQuery): Promise<FilePage> {
    const { limit, sort, order, cursor } = query
    const after = cursor === undefined ? undefined : decodeCursor(cursor, sort, order)
    const { files, ids, firstExpiry } = await this.deps.files.search(ownerId, query.filters, {
      sort,
      order,
      limit: limit + 1,
      after,
    })
    const items = files.slice(0, limit)
    const last = items.at(-1)
    const nextCursor =
      files.length > limit && last ? encodeCursor(parseListedFile(last), sort, order) : null
    return { items, ids: ids.subarray(0, items.length * ID_BYTES), nextCursor, firstExpiry }
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
    await this.purgeNow([id])
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

  contentUrl(file: Pick<FileRecord, 'id'>): string {
    return this.deps.signedUrls.contentUrl(file.id)
  }

  /** contentUrl() of each file of a page, in order. */
  contentUrls(page: FilePage): string[] {
    return this.deps.signedUrls.pageUrls(page.items.map(listedFileId), page.ids)
  }

  /** Until this changes, contentUrl() gives each file the same URL. */
  contentUrlExpiry(): number {
    return this.deps.signedUrls.currentExpiry()
  }

  /** After a change to a file is committed: its metadata and its owner's list pages. */
  private async forgetCached(ownerId: string, id: string) {
    await Promise.all([this.deps.cache.invalidate(id), this.deps.lists.invalidate(ownerId)])
  }

  /** Streams one part to the store under a pending row, which exists before any byte does. */
  private async stage(
    ownerId: string,
    part: Extract<UploadPart, { kind: 'file' }>,
    expiresAt: Date | null,
    lease: UploadLease,
  ): Promise<StagedFile> {
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
    try {
      await files.insertPending({
        id,
        ownerId,
        name,
        storageKey: key,
        driver: store.driver,
        claimedContentType: part.claimedType || null,
        expiresAt,
        leaseUntil: lease.until(),
      })
    } catch (err) {
      part.stream.resume()
      throw err
    }
    lease.hold(id)
    const quota = new QuotaMeter((bytes) => this.deps.quotas.reserve(id, ownerId, bytes))
    const sniffer = new HeadSniffer()
    // pipeline, not pipe: the part may already have failed, and only pipeline reports that.
    let refused: Error | undefined
    pipeline(part.stream, quota, sniffer, () => {})
    quota.on('error', (err) => {
      refused = err
    })
    try {
      const { size, sha256, envelope } = await store.put(key, sniffer)
      const contentType = await detectContentType(sniffer.head(), name)
      return { id, content: { size, sha256, contentType, envelope: envelope ?? null } }
    } catch (err) {
      part.stream.resume()
      // The store reports the stream it was given breaking; the quota says why.
      throw refused ?? err
    }
  }

  /**
   * Flips the staged rows to available in one transaction. If its reply is lost, the rows
   * say what happened: all available means it committed, and the upload succeeded.
   */
  private async commit(staged: StagedFile[]): Promise<FileRecord[]> {
    let files: FileRecord[] | undefined
    try {
      files = await this.deps.files.commitUploads(staged)
    } catch (err) {
      const ids = staged.map((file) => file.id)
      const rows = await this.deps.files.findByIds(ids).catch(() => [])
      const byId = new Map(rows.map((row) => [row.id, row]))
      const committed = ids.map((id) => byId.get(id))
      if (committed.every((row) => row?.status === 'available')) return committed as FileRecord[]
      throw err
    }
    // The sweeper took a row whose lease could not be renewed in time.
    if (!files) throw new UploadInterruptedError()
    return files
  }

  /**
   * Removes what a failed upload left: only rows still pending are given up, so bytes a
   * committed row refers to survive whatever a lost reply left. What cannot be removed now
   * is left to the sweeper: a deleted row, or a pending one whose lease will lapse.
   */
  private async discard(ids: string[]) {
    try {
      await this.purgeNow(await this.deps.files.abandonPending(ids))
    } catch (err) {
      this.deps.logger.warn(
        { err, fileIds: ids },
        'could not discard a failed upload; the sweeper will',
      )
    }
  }

  /** Removes deleted files' blobs and rows, waiting a bounded time; the sweeper finishes. */
  private async purgeNow(ids: string[]) {
    if (ids.length === 0) return
    try {
      const { failed } = await withDeadline(
        this.deps.purger.purge({ ids, limit: ids.length }),
        this.deps.purgeWaitMs,
        'blob removal',
      )
      if (failed > 0) throw new Error(`${failed} blob deletes failed`)
    } catch (err) {
      this.deps.logger.warn({ err, fileIds: ids }, 'blob removal failed; the sweeper will retry')
    }
  }

  private fieldExpiry(field: { name: string; value: string }): Date | null | undefined {
    if (field.name === 'expires_in') {
      const seconds = Number(field.value)
      return resolveExpiry({ expiresIn: Number.isNaN(seconds) ? -1 : seconds })
    }
    if (field.name === 'expires_at') return resolveExpiry({ expiresAt: field.value })
    if (field.name === 'file') throw missingFileName()
    throw new InvalidUploadError(
      `Unknown field "${field.name}"; expected "file", "expires_in" or "expires_at"`,
    )
  }
}

// A cursor names its sort, so a cursor from one ordering is refused by another.
function encodeCursor(file: ListedFile, sort: SortKey, order: SortOrder): string {
  return Buffer.from(JSON.stringify([sort, order, file[sort], file.id])).toString('base64url')
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
export function fileEvent(file: FileRecord) {
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
