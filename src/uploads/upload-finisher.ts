import { createHash, type Hash } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { type EventBus, newEvent } from '../events/event-bus.js'
import type { BlobPurger } from '../files/blob-purger.js'
import { detectContentType } from '../files/content-type.js'
import type { FileListCache } from '../files/file-list-cache.js'
import { UploadInterruptedError } from '../files/files-errors.js'
import type { FileRecord, FilesRepository, StoredContent } from '../files/files-repository.js'
import { fileEvent } from '../files/files-service.js'
import { withDeadline } from '../infra/deadline.js'
import type { Logger } from '../infra/logger.js'
import type { AppendHandle } from '../storage/appendable-blob-store.js'
import type { BlobStore } from '../storage/blob-store.js'
import type { TusUpload, UploadsRepository } from './uploads-repository.js'

// file-type reads at most this many bytes to recognise any format it knows.
const SNIFF_BYTES = 4100

export interface UploadFinisherDeps {
  uploads: UploadsRepository
  files: FilesRepository
  purger: BlobPurger
  store: BlobStore
  lists: FileListCache
  events: EventBus
  logger: Logger
  purgeWaitMs: number
}

/** The two ways an upload ends: as a file (or a completed partial), or discarded. */
export class UploadFinisher {
  constructor(private readonly deps: UploadFinisherDeps) {}

  /**
   * Makes the written blocks the blob, then the file visible through the same commit as
   * POST /upload; caches and events learn of it after the commit. A completed partial stays
   * a pending row (never a file) until a final upload takes it. Safe to repeat after a
   * crash: completing an append twice returns the same blob.
   */
  async complete(upload: TusUpload, hash: Hash | undefined): Promise<void> {
    const { store, uploads } = this.deps
    const handle = parseHandle(upload)
    const size = upload.upload_length ?? upload.upload_offset
    const blocks = Math.max(1, Math.ceil(size / handle.blockSize))
    const { envelope = null } = await store.completeAppend(handle, { blocks, size })
    if (upload.concat === 'partial') {
      await uploads.completePartial(upload.id, upload.file_id, { size, envelope })
      return
    }
    const content: StoredContent = {
      size,
      envelope,
      sha256: hash ? hash.digest('hex') : await this.sha256Of(handle.key, envelope),
      contentType: await this.contentTypeOf(handle.key, size, envelope, upload.name),
    }
    const file = await this.commit(upload.file_id, content)
    await uploads.markCompleted(upload.id, size)
    await this.published(file)
  }

  /** After a commit: list pages first, so a client that lists on the event sees the file. */
  async published(file: FileRecord): Promise<void> {
    await this.deps.lists.invalidate(file.owner_id)
    await this.deps.events.publish(newEvent('upload.completed', file.owner_id, fileEvent(file)))
  }

  /**
   * Gives up the upload: its files row first (deleted, its reservation given back), then
   * its bytes, then the row. Anything left over (a crash, a hung store) is the sweeper's:
   * a tus row whose file is deleted, or a deleted file row, or an orphan.
   */
  async discard(upload: TusUpload, options: { wait: boolean }): Promise<void> {
    const { store, files } = this.deps
    await files.abandonPending([upload.file_id])
    if (upload.append_handle !== null) await store.abortAppend(parseHandle(upload))
    if (upload.carry_key !== null) await store.delete(upload.carry_key)
    if (options.wait) await this.purgeSoon([upload.file_id])
  }

  /** Gives up a pending file row that has no upload beside it (a failed concatenation). */
  async abandon(fileId: string): Promise<void> {
    await this.deps.files.abandonPending([fileId])
    await this.purgeSoon([fileId])
  }

  /** Removes deleted rows' blobs and rows, waiting a bounded time; the sweeper finishes. */
  async purgeSoon(fileIds: string[]): Promise<void> {
    try {
      await withDeadline(
        this.deps.purger.purge({ ids: fileIds, limit: fileIds.length }),
        this.deps.purgeWaitMs,
        'blob removal',
      )
    } catch (err) {
      this.deps.logger.warn({ err, fileIds }, 'blob removal failed; the sweeper will retry')
    }
  }

  /** Like POST /upload: if the commit's reply is lost, the row tells what happened. */
  private async commit(fileId: string, content: StoredContent): Promise<FileRecord> {
    let committed: FileRecord[] | undefined
    try {
      committed = await this.deps.files.commitUploads([{ id: fileId, content }])
    } catch (err) {
      const [row] = await this.deps.files.findByIds([fileId]).catch(() => [])
      if (row?.status === 'available') return row
      throw err
    }
    if (!committed?.[0]) throw new UploadInterruptedError()
    return committed[0]
  }

  private async sha256Of(key: string, envelope: string | null): Promise<string> {
    const hash = createHash('sha256')
    await pipeline(await this.deps.store.get(key, undefined, envelope ?? undefined), hash)
    return hash.digest('hex')
  }

  private async contentTypeOf(key: string, size: number, envelope: string | null, name: string) {
    if (size === 0) return detectContentType(Buffer.alloc(0), name)
    const range = { start: 0, end: Math.min(size, SNIFF_BYTES) - 1 }
    const chunks: Buffer[] = []
    for await (const chunk of await this.deps.store.get(key, range, envelope ?? undefined)) {
      chunks.push(chunk as Buffer)
    }
    return detectContentType(Buffer.concat(chunks), name)
  }
}

export function parseHandle(upload: TusUpload): AppendHandle {
  if (upload.append_handle === null) throw new Error(`upload ${upload.id} has no append`)
  return JSON.parse(upload.append_handle) as AppendHandle
}
