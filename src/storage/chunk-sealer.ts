import { Transform, type TransformCallback } from 'node:stream'
import { freshBuffersAllocated } from '../infra/fresh-buffers.js'
import type { PutResult, StoredBlob } from './blob-store.js'
import { CHUNK_SIZE, ChunkCiphers, TAG_BYTES } from './chunk-format.js'
import { StreamMeasure } from './hashing-meter.js'

// Sealed chunks leave in batches of this many, all pushed at once: the inner store then
// gets them queued together (one writev for the local store) rather than alternating
// 64 KiB and 16-byte writes.
const BATCH_CHUNKS = 16

/**
 * Plaintext in, sealed chunks out (see chunk-format.ts), with the plaintext's size and
 * SHA-256 from the same pass. Holds at most one chunk of plaintext at a time.
 */
export class ChunkSealer extends Transform {
  readonly #ciphers: ChunkCiphers
  readonly #pending = Buffer.alloc(CHUNK_SIZE)
  #filled = 0
  #index = 0
  // Ciphertexts and tags of the chunks sealed since the last push, each as the cipher
  // returned it: joining them would copy every byte once more.
  #sealed: Buffer[] = []
  readonly #measure: StreamMeasure
  readonly #endsBlob: boolean

  /**
   * With `hash: false`, only the size is reported (see PutOptions.hash). A blob written in
   * blocks (appendable-blob-store.ts) seals each block apart: `firstChunk` numbers its first
   * chunk, and only the blob's final block (`endsBlob`) marks a last chunk.
   */
  constructor(
    dataKey: Buffer,
    blobKey: string,
    options: { hash?: boolean; firstChunk?: number; endsBlob?: boolean } = {},
  ) {
    // Room for a batch on the way out, so sealing the next one overlaps its write.
    super({ readableHighWaterMark: BATCH_CHUNKS * (CHUNK_SIZE + TAG_BYTES) })
    this.#ciphers = new ChunkCiphers(dataKey, blobKey)
    this.#measure = new StreamMeasure(options.hash !== false)
    this.#index = options.firstChunk ?? 0
    this.#endsBlob = options.endsBlob ?? true
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    // To the hashing thread first, so it hashes while this thread seals.
    const measured = this.#measure.add(chunk)
    let offset = 0
    while (offset < chunk.length) {
      // A full chunk is sealed only once more bytes arrive: until the input ends, it could
      // still be the last one, and the last chunk is sealed as such.
      if (this.#filled === CHUNK_SIZE) this.#seal(this.#pending, false)
      if (this.#filled === 0 && chunk.length - offset > CHUNK_SIZE) {
        // A whole chunk with more input after it: sealed where it lies, without a copy.
        this.#seal(chunk.subarray(offset, offset + CHUNK_SIZE), false)
        offset += CHUNK_SIZE
        continue
      }
      const copied = chunk.copy(this.#pending, this.#filled, offset)
      this.#filled += copied
      offset += copied
    }
    measured(callback)
  }

  override _flush(callback: TransformCallback) {
    this.#seal(this.#pending.subarray(0, this.#filled), this.#endsBlob)
    this.#pushBatch()
    this.#measure.end(callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    this.#measure.abandon()
    callback(error)
  }

  /** Plaintext size and digest; only once the input has ended. */
  result(): Pick<PutResult, 'size' | 'sha256'> | Pick<StoredBlob, 'size'> {
    return this.#measure.result('ChunkSealer')
  }

  #seal(plaintext: Buffer, last: boolean) {
    const cipher = this.#ciphers.cipher(this.#index, last)
    freshBuffersAllocated(plaintext.length)
    this.#sealed.push(cipher.update(plaintext))
    cipher.final()
    this.#sealed.push(cipher.getAuthTag())
    this.#index++
    this.#filled = 0
    if (this.#sealed.length === 2 * BATCH_CHUNKS) this.#pushBatch()
  }

  #pushBatch() {
    for (const sealed of this.#sealed) this.push(sealed)
    this.#sealed = []
  }
}
