import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
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
import { BlobNotFoundError } from './storage-errors.js'

interface HeldBlob {
  bytes: Buffer
  lastModified: Date
}

/** Blobs in a Map, for unit tests. Same contract as the durable stores. */
export class MemoryBlobStore implements BlobStore {
  readonly driver = 'memory'
  readonly #blobs = new Map<string, HeldBlob>()

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

  // A put holds its bytes in memory and stores them in one step: it never leaves a partial.
  async *listPartials(): AsyncIterable<PartialWrite> {}

  async removePartial(): Promise<void> {}

  async ping(): Promise<void> {}

  #find(key: string): HeldBlob | undefined {
    assertBlobKey(key)
    return this.#blobs.get(key)
  }
}
