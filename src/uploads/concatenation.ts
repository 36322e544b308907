import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { detectContentType, HeadSniffer } from '../files/content-type.js'
import { UploadInterruptedError, UploadTooLargeError } from '../files/files-errors.js'
import type { FilesRepository } from '../files/files-repository.js'
import { UploadLease } from '../files/upload-lease.js'
import type { Logger } from '../infra/logger.js'
import { newBlobKey } from '../storage/blob-key.js'
import type { BlobStore } from '../storage/blob-store.js'
import { LeaseKeeper } from './lease-keeper.js'
import type { UploadFinisher } from './upload-finisher.js'
import { InvalidTusRequestError, UploadLockedError, UploadNotFoundError } from './uploads-errors.js'
import type { TusUpload, UploadsRepository } from './uploads-repository.js'
import type { UploadState } from './uploads-service.js'

export interface ConcatenationDeps {
  uploads: UploadsRepository
  files: FilesRepository
  store: BlobStore
  finisher: UploadFinisher
  logger: Logger
  maxUploadBytes: number
  leaseMs: number
  /** How long the final file's pending row outlives a crash (UPLOAD_GRACE_SECONDS). */
  fileLeaseMs: number
}

export interface FinalRequest {
  id: string
  ownerId: string
  name: string
  claimedType: string | null
  fileExpiresAt: Date | null
  metadata: string | null
  parts: string[]
  expiresAt: Date
}

/**
 * tus concatenation: completed partial uploads of one owner become one file. Their bytes are
 * streamed in order into a new blob (store.put, so encryption applies), then one transaction
 * makes the file visible, removes the partials and hands their quota reservations to it:
 * the quota counts the bytes once throughout, though the store holds them twice meanwhile.
 */
export class Concatenation {
  constructor(private readonly deps: ConcatenationDeps) {}

  async concatenate(request: FinalRequest): Promise<UploadState> {
    const { uploads, files, store, finisher, logger } = this.deps
    if (new Set(request.parts).size !== request.parts.length) {
      throw new InvalidTusRequestError('Upload-Concat names an upload twice')
    }
    const partials = await this.claimParts(request.ownerId, request.parts)
    const lease = new UploadLease(files, this.deps.fileLeaseMs, logger)
    const fileId = randomUUID()
    const key = newBlobKey()
    try {
      const size = partials.uploads.reduce((sum, p) => sum + (p.upload_length ?? 0), 0)
      if (size > this.deps.maxUploadBytes) throw new UploadTooLargeError(this.deps.maxUploadBytes)
      await files.insertPending({
        id: fileId,
        ownerId: request.ownerId,
        name: request.name,
        storageKey: key,
        driver: store.driver,
        claimedContentType: request.claimedType,
        expiresAt: request.fileExpiresAt,
        leaseUntil: lease.until(),
      })
      lease.hold(fileId)
      const sniffer = new HeadSniffer()
      const source = Readable.from(this.bytesOf(partials.uploads), { objectMode: false })
      source.on('error', (err) => sniffer.destroy(err))
      const stored = await store.put(key, source.pipe(sniffer), { signal: partials.keeper.signal })
      if (stored.size !== size) throw new Error(`concatenated ${stored.size} of ${size} bytes`)
      const content = {
        size,
        sha256: stored.sha256,
        contentType: await detectContentType(sniffer.head(), request.name),
        envelope: stored.envelope ?? null,
      }
      const final = {
        id: request.id,
        fileId,
        ownerId: request.ownerId,
        metadata: request.metadata,
        expiresAt: request.expiresAt,
      }
      const done = await uploads.concatenate({
        holder: partials.keeper.holder,
        partials: partials.uploads,
        final,
        content,
      })
      if (!done) throw new UploadInterruptedError()
      lease.release()
      const [file] = await files.findByIds([fileId])
      if (file) await finisher.published(file)
      // The partials' rows are deleted now; their blobs go at once or with the next sweep.
      await finisher.purgeSoon(partials.uploads.map((p) => p.file_id))
      return {
        id: request.id,
        offset: size,
        length: size,
        concat: 'final',
        metadata: request.metadata,
        expiresAt: request.expiresAt,
      }
    } catch (err) {
      lease.release()
      await finisher.abandon(fileId)
      throw err
    } finally {
      await partials.keeper.release().catch(() => undefined)
    }
  }

  private async claimParts(ownerId: string, ids: string[]) {
    const { uploads, leaseMs, logger } = this.deps
    const holder = randomUUID()
    const claimed = await uploads.claimPartials(
      ownerId,
      ids,
      holder,
      new Date(Date.now() + leaseMs),
    )
    const keeper = new LeaseKeeper(uploads, ids, holder, leaseMs, logger)
    const found = await uploads.findMany(ownerId, ids)
    if (claimed === ids.length) {
      const byId = new Map(found.map((upload) => [upload.id, upload]))
      return { keeper, uploads: ids.map((id) => byId.get(id) as TusUpload) }
    }
    await keeper.release()
    const gone = (u: TusUpload) => u.concat !== 'partial' || u.expires_at <= new Date()
    if (found.length !== ids.length || found.some(gone)) {
      throw new UploadNotFoundError()
    }
    if (found.some((u) => u.completed_at === null)) {
      throw new InvalidTusRequestError('Every partial upload must be complete first')
    }
    throw new UploadLockedError()
  }

  private async *bytesOf(partials: TusUpload[]): AsyncGenerator<Buffer> {
    for (const partial of partials) {
      const stream = await this.deps.store.get(
        partial.storage_key,
        undefined,
        partial.envelope ?? undefined,
      )
      for await (const chunk of stream) yield chunk as Buffer
    }
  }
}
