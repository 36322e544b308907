import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  assertAppendKey,
  assertBlock,
  assertBlockSize,
  assertCompletion,
  type BlockRef,
  readBlock,
} from './append-rules.js'
import type { AppendHandle } from './appendable-blob-store.js'
import { assertBlobKey, isOwnBlobKey } from './blob-key.js'
import type {
  BlobInfo,
  BlobStore,
  ByteRange,
  PartialWrite,
  PutOptions,
  PutResult,
  StoredBlob,
} from './blob-store.js'
import { assertByteRange } from './byte-range.js'
import { HashingMeter } from './hashing-meter.js'
import { AppendNotFoundError, BlobNotFoundError, InvalidAppendError } from './storage-errors.js'

interface HeldBlob {
  bytes: Buffer
  lastModified: Date
}

interface PendingAppend {
  key: string
  blocks: Map<number, Buffer>
  lastWrite: Date
}

/** Blobs in a Map, for unit tests. Same contract as the durable stores. */
export class MemoryBlobStore implements BlobStore {
  readonly driver = 'memory'
  readonly #blobs = new Map<string, HeldBlob>()
  // By the handle's id, as S3 keeps multipart uploads by upload id.
  readonly #appends = new Map<string, PendingAppend>()

  put(key: string, body: Readable, options: PutOptions & { hash: false }): Promise<StoredBlob>
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>
  async put(key: string, body: Readable, options?: PutOptions): Promise<StoredBlob | PutResult> {
    assertBlobKey(key)
    const meter = new HashingMeter({ hash: options?.hash })
    const chunks: Buffer[] = []
    await pipeline(
      body,
      meter,
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) chunks.push(chunk)
      },
      { signal: options?.signal },
    )
    // Stored only after the whole body arrived, so a failed put leaves nothing behind.
    this.#blobs.set(key, { bytes: Buffer.concat(chunks), lastModified: new Date() })
    return meter.result()
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    if (range) assertByteRange(range)
    const blob = this.#find(key)
    if (!blob) throw new BlobNotFoundError(key)
    // A copy, so a consumer that mutates its chunks cannot change the stored blob.
    const bytes = Buffer.from(range ? blob.bytes.subarray(range.start, range.end + 1) : blob.bytes)
    return Readable.from([bytes])
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const blob = this.#find(key)
    return blob && { key, size: blob.bytes.length, lastModified: blob.lastModified }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key)
    this.#blobs.delete(key)
  }

  async *list(options: { after?: string } = {}): AsyncIterable<BlobInfo> {
    const { after } = options
    // A snapshot, so deleting while iterating behaves as on the other stores.
    const keys = [...this.#blobs.keys()]
      .filter((key) => isOwnBlobKey(key) && (after === undefined || key > after))
      .sort()
    for (const key of keys) {
      const blob = this.#blobs.get(key)
      if (blob) yield { key, size: blob.bytes.length, lastModified: blob.lastModified }
    }
  }

  async beginAppend(key: string, options: { blockSize: number }): Promise<AppendHandle> {
    assertAppendKey(key)
    assertBlockSize(options.blockSize)
    const id = randomUUID()
    this.#appends.set(id, { key, blocks: new Map(), lastWrite: new Date() })
    return { key, blockSize: options.blockSize, state: { id } }
  }

  async appendBlock(
    handle: AppendHandle,
    block: BlockRef,
    body: Readable,
    options?: { signal?: AbortSignal; sync?: boolean },
  ): Promise<void> {
    assertBlock(handle, block)
    this.#pending(handle)
    const bytes = await readBlock(body, block.length, options?.signal)
    // Looked up again: the append may have been aborted while the body streamed.
    const pending = this.#pending(handle)
    pending.blocks.set(block.index, bytes)
    pending.lastWrite = new Date()
  }

  async completeAppend(
    handle: AppendHandle,
    options: { blocks: number; size: number },
  ): Promise<{ envelope?: string }> {
    assertCompletion(handle, options)
    const pending = this.#appends.get(handle.state.id ?? '')
    // Already completed: a caller that never heard the answer asks again.
    if (!pending && this.#blobs.get(handle.key)?.bytes.length === options.size) return {}
    const { blocks } = this.#pending(handle)
    const parts = Array.from({ length: options.blocks }, (_, index) => blocks.get(index))
    const bytes = Buffer.concat(parts.filter((part) => part !== undefined))
    if (parts.includes(undefined) || bytes.length !== options.size) {
      throw new InvalidAppendError(`blocks written do not make ${options.size} bytes`)
    }
    this.#blobs.set(handle.key, { bytes, lastModified: new Date() })
    this.#appends.delete(handle.state.id ?? '')
    return {}
  }

  async syncAppend(handle: AppendHandle): Promise<void> {
    this.#pending(handle)
  }

  async abortAppend(handle: AppendHandle): Promise<void> {
    this.#appends.delete(handle.state.id ?? '')
  }

  // A put holds its bytes in memory and stores them in one step: only appends leave partials.
  async *listPartials(): AsyncIterable<PartialWrite> {
    for (const [id, pending] of [...this.#appends]) {
      yield { id, key: pending.key, since: pending.lastWrite }
    }
  }

  async removePartial(partial: PartialWrite): Promise<void> {
    this.#appends.delete(partial.id)
  }

  async ping(): Promise<void> {}

  #pending(handle: AppendHandle): PendingAppend {
    const pending = this.#appends.get(handle.state.id ?? '')
    if (!pending || pending.key !== handle.key) throw new AppendNotFoundError(handle.key)
    return pending
  }

  #find(key: string): HeldBlob | undefined {
    assertBlobKey(key)
    return this.#blobs.get(key)
  }
}
