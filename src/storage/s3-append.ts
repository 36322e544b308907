import type { Readable } from 'node:stream'
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListPartsCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3'
import {
  assertAppendKey,
  assertBlock,
  assertBlockSize,
  assertCompletion,
  type BlockRef,
  blockLength,
  readBlock,
} from './append-rules.js'
import type { AppendHandle } from './appendable-blob-store.js'
import { assertBlobKey } from './blob-key.js'
import { isNoSuchUpload, isNotFound, unavailable } from './s3-errors.js'
import {
  AppendNotFoundError,
  InvalidAppendError,
  StorageUnavailableError,
} from './storage-errors.js'

// S3 numbers parts 1 to 10,000, so a blob holds at most 10,000 blocks: the caller picks a
// blockSize of at least its largest blob / 10,000.
const MAX_PARTS = 10_000

interface ListedPart {
  etag: string
  size: number
}

/**
 * Appendable blobs as S3 multipart uploads: one per handle (`state.uploadId`), block i sent as
 * part i + 1. listPartials reports them as it does put's, and removePartial aborts them.
 */
export class S3Appends {
  readonly #client: S3Client
  readonly #bucket: string

  constructor(options: { client: S3Client; bucket: string }) {
    this.#client = options.client
    this.#bucket = options.bucket
  }

  async begin(key: string, options: { blockSize: number }): Promise<AppendHandle> {
    assertAppendKey(key)
    assertBlockSize(options.blockSize)
    const { UploadId } = await this.#client
      .send(new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: key }))
      .catch((error: unknown) => {
        throw unavailable(error)
      })
    if (!UploadId) throw new StorageUnavailableError('The file store began no multipart upload')
    return { key, blockSize: options.blockSize, state: { uploadId: UploadId } }
  }

  async write(
    handle: AppendHandle,
    block: BlockRef,
    body: Readable,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const { signal } = options
    assertBlock(handle, block)
    if (block.index >= MAX_PARTS) {
      throw new InvalidAppendError(`S3 takes at most ${MAX_PARTS} parts: block ${block.index}`)
    }
    const uploadId = this.#uploadIdOf(handle)
    // Held whole: a part's length must be sent up front, and a buffer lets the SDK retry a
    // failed attempt, which a half-read stream cannot.
    const bytes = await readBlock(body, block.length, signal)
    const command = new UploadPartCommand({
      Bucket: this.#bucket,
      Key: handle.key,
      UploadId: uploadId,
      PartNumber: block.index + 1,
      Body: bytes,
      ContentLength: bytes.length,
    })
    await this.#client.send(command, { abortSignal: signal }).catch((error: unknown) => {
      throw this.#failure(handle, error, signal)
    })
  }

  async complete(
    handle: AppendHandle,
    options: { blocks: number; size: number },
  ): Promise<{ envelope?: string }> {
    assertCompletion(handle, options)
    if (options.blocks > MAX_PARTS) {
      throw new InvalidAppendError(`S3 takes at most ${MAX_PARTS} parts, not ${options.blocks}`)
    }
    const uploadId = this.#uploadIdOf(handle)
    const listed = await this.#listParts(handle, uploadId)
    if (!listed) return this.#completedBefore(handle, options.size)
    const parts = Array.from({ length: options.blocks }, (_, index) => {
      const part = listed.get(index + 1)
      // Sizes checked too: a final block shorter than `size` says, or a block left short,
      // would otherwise only show when someone reads the blob.
      if (part?.size !== blockLength(index, options.size, handle.blockSize)) {
        throw new InvalidAppendError(`block ${index} is not written as ${options.size} bytes need`)
      }
      return { PartNumber: index + 1, ETag: part.etag }
    })
    const command = new CompleteMultipartUploadCommand({
      Bucket: this.#bucket,
      Key: handle.key,
      UploadId: uploadId,
      MultipartUpload: { Parts: parts },
    })
    try {
      await this.#client.send(command)
    } catch (error) {
      // Completed by an earlier attempt whose reply was lost.
      if (isNoSuchUpload(error)) return this.#completedBefore(handle, options.size)
      throw unavailable(error)
    }
    return {}
  }

  /** A part is durable once UploadPart answers: there is nothing left to sync. */
  async sync(handle: AppendHandle): Promise<void> {
    this.#uploadIdOf(handle)
  }

  async abort(handle: AppendHandle): Promise<void> {
    const command = new AbortMultipartUploadCommand({
      Bucket: this.#bucket,
      Key: handle.key,
      UploadId: this.#uploadIdOf(handle),
    })
    await this.#client.send(command).catch((error: unknown) => {
      if (!isNoSuchUpload(error)) throw unavailable(error)
    })
  }

  /** Every part by number, or undefined if the upload is gone. */
  async #listParts(handle: AppendHandle, uploadId: string) {
    const parts = new Map<number, ListedPart>()
    let marker: string | undefined
    do {
      const command = new ListPartsCommand({
        Bucket: this.#bucket,
        Key: handle.key,
        UploadId: uploadId,
        PartNumberMarker: marker,
      })
      const page = await this.#client.send(command).catch((error: unknown) => {
        if (isNoSuchUpload(error)) return undefined
        throw unavailable(error)
      })
      if (!page) return undefined
      for (const { PartNumber, ETag, Size } of page.Parts ?? []) {
        if (PartNumber !== undefined && ETag !== undefined) {
          parts.set(PartNumber, { etag: ETag, size: Size ?? 0 })
        }
      }
      marker = page.IsTruncated ? page.NextPartNumberMarker : undefined
    } while (marker !== undefined)
    return parts
  }

  /** For an upload gone: fine if it became the blob, as a completion asked again finds. */
  async #completedBefore(handle: AppendHandle, size: number): Promise<{ envelope?: string }> {
    const command = new HeadObjectCommand({ Bucket: this.#bucket, Key: handle.key })
    const head = await this.#client.send(command).catch((error: unknown) => {
      if (isNotFound(error)) return undefined
      throw unavailable(error)
    })
    if (head?.ContentLength !== size) throw new AppendNotFoundError(handle.key)
    return {}
  }

  #failure(handle: AppendHandle, error: unknown, signal: AbortSignal | undefined): unknown {
    if (isNoSuchUpload(error)) return new AppendNotFoundError(handle.key)
    if (signal?.aborted) return signal.reason
    return unavailable(error)
  }

  #uploadIdOf(handle: AppendHandle): string {
    assertBlobKey(handle.key)
    const uploadId = handle.state.uploadId
    if (!uploadId) throw new InvalidAppendError('not an S3 append handle')
    return uploadId
  }
}
