// tus 1.0 is implemented here rather than with @tus/server: that server does not implement
// the checksum extension (its documentation and maintainers say so), and its locking,
// quotas and expiry would bypass Satchel's rules (docs/consistency.md): a lease in the
// database decides who writes an upload, on any instance, and quotas move with the rows.
import { randomBytes, randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { resolveExpiry } from '../files/expiry.js'
import { normalizeFileName } from '../files/file-name.js'
import {
  QuotaExceededError,
  UploadInterruptedError,
  UploadTooLargeError,
} from '../files/files-errors.js'
import type { QuotaRepository } from '../files/quota-repository.js'
import { freshBuffersAllocated } from '../infra/fresh-buffers.js'
import type { Logger } from '../infra/logger.js'
import type { TusConcat } from '../schema.js'
import { newBlobKey } from '../storage/blob-key.js'
import type { BlobStore } from '../storage/blob-store.js'
import type { Concatenation } from './concatenation.js'
import { LeaseKeeper } from './lease-keeper.js'
import { writePatch } from './patch-writer.js'
import type { RunningHashes } from './running-hashes.js'
import { blockSizeFor, parseChecksum, parseConcat, parseMetadata } from './tus-protocol.js'
import { parseHandle, type UploadFinisher } from './upload-finisher.js'
import {
  FinalUploadPatchError,
  InvalidTusRequestError,
  UploadBodyIncompleteError,
  UploadExpiredError,
  UploadLockedError,
  UploadNotFoundError,
  UploadOffsetMismatchError,
} from './uploads-errors.js'
import type { TusUpload, UploadsRepository } from './uploads-repository.js'

export interface UploadsServiceDeps {
  uploads: UploadsRepository
  quotas: QuotaRepository
  store: BlobStore
  finisher: UploadFinisher
  concatenation: Concatenation
  hashes: RunningHashes
  logger: Logger
  maxUploadBytes: number
  /** TUS_EXPIRY_SECONDS: how long an upload may go without a byte before it is removed. */
  expirySeconds: number
  /** A PATCH whose client sends nothing this long ends; what arrived is kept. */
  idleTimeoutMs: number
  leaseMs: number
}

/** What HEAD, POST and PATCH report about an upload. */
export interface UploadState {
  id: string
  offset: number
  length: number | null
  concat: TusConcat
  metadata: string | null
  expiresAt: Date
  /** The partial uploads' URLs path, for a final upload's HEAD. */
  parts?: string[]
}

export interface CreateRequest {
  length?: number
  deferLength?: boolean
  metadata?: string
  concat?: string
  /** Upload-Checksum of the first bytes, when the request carries them. */
  checksum?: string
}

export interface PatchRequest {
  offset: number
  /** A deferred Upload-Length, given now. */
  length?: number
  checksum?: string
}

export class UploadsService {
  constructor(private readonly deps: UploadsServiceDeps) {}

  /** POST /uploads, with the first bytes when the request carries a body. */
  async create(
    ownerId: string,
    request: CreateRequest,
    body?: IncomingMessage,
  ): Promise<UploadState> {
    const { store, uploads, maxUploadBytes } = this.deps
    const concat = parseConcat(request.concat)
    const metadata = parseMetadata(request.metadata)
    const fileName = metadata.get('filename')
    if (fileName === undefined && concat.kind !== 'partial') {
      throw new InvalidTusRequestError('Upload-Metadata needs a filename')
    }
    // A partial is never shown: its row's name is only a placeholder.
    const name = normalizeFileName(fileName ?? 'partial')
    const expiresIn = metadata.get('expires_in')
    const fileExpiresAt =
      expiresIn === undefined
        ? null
        : (resolveExpiry({ expiresIn: /^\d+$/.test(expiresIn) ? Number(expiresIn) : -1 }) ?? null)
    const claimedType = metadata.get('filetype')?.slice(0, 255) || null
    const file = { ownerId, name, claimedType, fileExpiresAt, metadata: request.metadata ?? null }
    if (concat.kind === 'final') {
      if (request.length !== undefined || request.deferLength) {
        throw new InvalidTusRequestError('A final upload takes its length from its parts')
      }
      const final = await this.deps.concatenation.concatenate({
        ...file,
        id: newUploadId(),
        parts: concat.ids,
        expiresAt: this.expiry(),
      })
      return final
    }
    if ((request.length === undefined) === !request.deferLength) {
      throw new InvalidTusRequestError('Give Upload-Length or Upload-Defer-Length: 1')
    }
    const length = request.length ?? null
    if (length !== null && length > maxUploadBytes) throw new UploadTooLargeError(maxUploadBytes)
    const key = newBlobKey()
    const handle = await store.beginAppend(key, {
      blockSize: blockSizeFor(length ?? maxUploadBytes),
    })
    const upload = {
      id: newUploadId(),
      fileId: randomUUID(),
      ownerId,
      name,
      storageKey: key,
      driver: store.driver,
      claimedContentType: claimedType,
      fileExpiresAt,
      length,
      concat: concat.kind,
      metadata: request.metadata ?? null,
      appendHandle: JSON.stringify(handle),
      expiresAt: this.expiry(),
    }
    await uploads.create(upload)
    // The whole length counts against the quota from the start; a deferred one as it arrives.
    if (length !== null && length > 0) {
      const reserved = await this.deps.quotas.reserve(upload.fileId, ownerId, length)
      if (reserved !== 'ok') {
        const row = await uploads.find(ownerId, upload.id)
        if (row) await this.deps.finisher.discard(row, { wait: true })
        throw reserved === 'over' ? new QuotaExceededError() : new UploadInterruptedError()
      }
    }
    if (body && !isEmpty(body))
      return this.append(ownerId, upload.id, { offset: 0, checksum: request.checksum }, body)
    return this.status(ownerId, upload.id)
  }

  /** HEAD: where the upload stands. A completion a crash cut short is finished first. */
  async status(ownerId: string, id: string): Promise<UploadState> {
    let upload = await this.visible(ownerId, id)
    if (isWritten(upload) && upload.completed_at === null) {
      const keeper = await this.take(ownerId, id).catch(() => undefined)
      if (keeper) {
        try {
          const claimed = await this.deps.uploads.find(ownerId, id)
          if (claimed && isWritten(claimed)) await this.deps.finisher.complete(claimed, undefined)
        } finally {
          await keeper.release()
        }
        upload = await this.visible(ownerId, id)
      }
    }
    return this.stateOf(upload)
  }

  /** PATCH: appends the body at `offset`, keeping what arrived if the client vanishes. */
  async append(
    ownerId: string,
    id: string,
    request: PatchRequest,
    body: IncomingMessage,
  ): Promise<UploadState> {
    const checksum = parseChecksum(request.checksum)
    const keeper = await this.take(ownerId, id)
    const { uploads, hashes } = this.deps
    try {
      let upload = await uploads.find(ownerId, id)
      if (!upload) throw new UploadNotFoundError()
      if (request.length !== undefined)
        upload = await this.setLength(upload, request.length, keeper)
      if (upload.upload_offset !== request.offset) {
        throw new UploadOffsetMismatchError(upload.upload_offset)
      }
      if (isWritten(upload)) {
        await this.deps.finisher.complete(upload, hashes.resume(id, upload.upload_offset))
        return this.stateOf({ ...upload, completed_at: new Date() })
      }
      upload = await this.fitBlocks(upload, keeper, body)
      const hash = hashes.resume(id, upload.upload_offset)
      const outcome = await writePatch(
        {
          store: this.deps.store,
          handle: parseHandle(upload),
          offset: upload.upload_offset,
          length: upload.upload_length,
          carry: await this.readCarry(upload),
          carryKey: upload.carry_key,
          checksum,
          hash,
          signal: keeper.signal,
          advance: (step) => this.advance(upload, keeper, step),
          admit: (end) => this.admit(upload, end),
          dropCarry: (key) => this.dropCarry(key),
        },
        watchIdle(body, this.deps.idleTimeoutMs),
      ).catch((err: unknown) => {
        hashes.forget(id)
        throw body.destroyed || !body.complete ? bodyError(err) : err
      })
      if (outcome.hash) hashes.record(id, outcome.offset, outcome.hash)
      else hashes.forget(id)
      const written = { ...upload, upload_offset: outcome.offset, expires_at: this.expiry() }
      if (!outcome.complete) return this.stateOf(written)
      hashes.forget(id)
      await this.deps.finisher.complete(written, outcome.hash)
      return this.stateOf({ ...written, completed_at: new Date() })
    } catch (err) {
      // Past a limit nothing is kept (a deferred length may only learn it midway).
      if (err instanceof QuotaExceededError || err instanceof UploadTooLargeError) {
        const upload = await uploads.find(ownerId, id)
        if (upload) await this.deps.finisher.discard(upload, { wait: true })
      }
      throw err
    } finally {
      await keeper.release().catch((err: unknown) => {
        this.deps.logger.warn({ err, uploadId: id }, 'could not release a tus lease')
      })
    }
  }

  /**
   * DELETE: the upload and its bytes go. An upload already completed as a file only loses
   * its tus record: the file is then managed at /files like any other.
   */
  async terminate(ownerId: string, id: string): Promise<void> {
    const { uploads, finisher } = this.deps
    const holder = randomUUID()
    const upload = await uploads.claimForRemoval(ownerId, id, holder, this.leaseUntil())
    if (!upload) {
      if (await uploads.find(ownerId, id)) throw new UploadLockedError()
      throw new UploadNotFoundError()
    }
    this.deps.hashes.forget(id)
    if (upload.file_status === 'available') return uploads.remove(id, holder)
    await finisher.discard(upload, { wait: true })
  }

  private async take(ownerId: string, id: string): Promise<LeaseKeeper> {
    const { uploads, leaseMs, logger } = this.deps
    const holder = randomUUID()
    const claimed = await uploads.claim(ownerId, id, holder, this.leaseUntil())
    if (!claimed) {
      const upload = await this.visible(ownerId, id)
      if (upload.concat === 'final') throw new FinalUploadPatchError()
      if (upload.completed_at !== null) {
        throw new UploadOffsetMismatchError(upload.upload_length ?? upload.upload_offset)
      }
      throw new UploadLockedError()
    }
    return new LeaseKeeper(uploads, [id], holder, leaseMs, logger)
  }

  /** The caller's upload, not expired; another user's is not found. */
  private async visible(ownerId: string, id: string): Promise<TusUpload> {
    const upload = await this.deps.uploads.find(ownerId, id)
    if (!upload || upload.file_status === 'deleted') throw new UploadNotFoundError()
    if (upload.completed_at === null && upload.expires_at <= new Date()) {
      throw new UploadExpiredError()
    }
    return upload
  }

  private async setLength(upload: TusUpload, length: number, keeper: LeaseKeeper) {
    if (upload.upload_length !== null) {
      if (upload.upload_length === length) return upload
      throw new InvalidTusRequestError('Upload-Length cannot change once set')
    }
    if (length > this.deps.maxUploadBytes) throw new UploadTooLargeError(this.deps.maxUploadBytes)
    if (length < upload.upload_offset) {
      throw new InvalidTusRequestError('Upload-Length is less than what was already uploaded')
    }
    if (!(await this.deps.uploads.setLength(upload.id, keeper.holder, length))) {
      throw new UploadInterruptedError()
    }
    return { ...upload, upload_length: length }
  }

  /**
   * Before the first byte is recorded, the block size may still change (no store keeps it
   * but in the handle, and any block written so far lies past the offset, to be written
   * again): to one that cuts this PATCH into whole blocks. Clients send every PATCH but the
   * last of one length, so none then leaves a carry, a blob put and read back by the next.
   */
  private async fitBlocks(upload: TusUpload, keeper: LeaseKeeper, body: IncomingMessage) {
    const patchLength = Number(body.headers['content-length'])
    const length = upload.upload_length
    // A PATCH to the end leaves no carry whatever the block size.
    const toTheEnd = length !== null && patchLength >= length
    if (upload.upload_offset !== 0 || !(patchLength > 0) || toTheEnd) return upload
    const handle = parseHandle(upload)
    const blockSize = blockSizeFor(length ?? this.deps.maxUploadBytes, patchLength)
    if (blockSize === handle.blockSize) return upload
    const appendHandle = JSON.stringify({ ...handle, blockSize })
    if (!(await this.deps.uploads.replaceHandle(upload.id, keeper.holder, appendHandle))) {
      throw new UploadInterruptedError()
    }
    return { ...upload, append_handle: appendHandle }
  }

  private async advance(
    upload: TusUpload,
    keeper: LeaseKeeper,
    step: { from: number; to: number; carry: { key: string; envelope: string | null } | null },
  ) {
    const moved = await this.deps.uploads.advance(upload.id, keeper.holder, {
      ...step,
      expiresAt: this.expiry(),
    })
    if (!moved) throw new UploadInterruptedError()
  }

  /**
   * A deferred length is held to MAX_UPLOAD_BYTES and reserved against the quota as bytes
   * arrive, a block ahead (one transaction per block), or exactly what is missing when a
   * whole block no longer fits.
   */
  private async admit(upload: TusUpload, end: number) {
    if (upload.upload_length !== null) return
    const { maxUploadBytes, quotas } = this.deps
    if (end > maxUploadBytes) throw new UploadTooLargeError(maxUploadBytes)
    const needed = end - upload.reserved_bytes
    if (needed <= 0) return
    const ahead = Math.min(
      Math.max(needed, parseHandle(upload).blockSize),
      maxUploadBytes - upload.reserved_bytes,
    )
    let bytes = ahead
    let result = await quotas.reserve(upload.file_id, upload.owner_id, bytes)
    if (result === 'over' && bytes > needed) {
      bytes = needed
      result = await quotas.reserve(upload.file_id, upload.owner_id, bytes)
    }
    if (result === 'over') throw new QuotaExceededError()
    if (result === 'lost') throw new UploadInterruptedError()
    upload.reserved_bytes += bytes
  }

  private async readCarry(upload: TusUpload): Promise<Buffer> {
    if (upload.carry_key === null) return Buffer.alloc(0)
    const stream = await this.deps.store.get(
      upload.carry_key,
      undefined,
      upload.carry_envelope ?? undefined,
    )
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }

  private async dropCarry(key: string) {
    await this.deps.store.delete(key).catch((err: unknown) => {
      this.deps.logger.warn({ err }, 'could not delete a carry blob; the orphan scan will')
    })
  }

  private stateOf(upload: TusUpload): UploadState {
    const done = upload.completed_at !== null
    return {
      id: upload.id,
      offset: done ? (upload.upload_length ?? upload.upload_offset) : upload.upload_offset,
      length: upload.upload_length ?? (done ? upload.upload_offset : null),
      concat: upload.concat,
      metadata: upload.metadata,
      expiresAt: upload.expires_at,
    }
  }

  private expiry(): Date {
    return new Date(Date.now() + this.deps.expirySeconds * 1000)
  }

  private leaseUntil(): Date {
    return new Date(Date.now() + this.deps.leaseMs)
  }
}

function newUploadId(): string {
  return randomBytes(18).toString('base64url')
}

/** Every byte up to a known length is written: only the completion may be missing. */
function isWritten(upload: TusUpload): boolean {
  return upload.upload_length !== null && upload.upload_offset === upload.upload_length
}

function isEmpty(body: IncomingMessage): boolean {
  return body.headers['content-length'] === '0' || body.complete
}

/**
 * The body's chunks; a client silent for `ms` has its request destroyed, which ends the
 * PATCH as if it had vanished (what arrived is kept).
 */
async function* watchIdle(body: IncomingMessage, ms: number): AsyncGenerator<Buffer> {
  let timer = setTimeout(() => body.destroy(), ms)
  try {
    for await (const chunk of body) {
      clearTimeout(timer)
      freshBuffersAllocated((chunk as Buffer).length)
      yield chunk as Buffer
      timer = setTimeout(() => body.destroy(), ms)
    }
  } finally {
    clearTimeout(timer)
  }
}

/** The client went away mid-body: what it sent was kept, nobody hears the answer. */
function bodyError(err: unknown): unknown {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && !('status' in err)
    ? new UploadBodyIncompleteError()
    : err
}
