import { createHash } from 'node:crypto'
import { Transform, type TransformCallback } from 'node:stream'
import type { PutResult } from './blob-store.js'
import { CHUNK_SIZE, ChunkCiphers, TAG_BYTES } from './chunk-format.js'

// Sealed chunks leave in batches of this many: one write of ~1 MiB costs the inner store
// much less than sixteen of 64 KiB.
const BATCH_CHUNKS = 16

/**
 * Plaintext in, sealed chunks out (see chunk-format.ts), with the plaintext's size and
 * SHA-256 from the same pass. Holds at most one chunk of plaintext at a time.
 */
export class ChunkSealer extends Transform {
  readonly #ciphers: ChunkCiphers
  readonly #hash = createHash('sha256')
  readonly #pending = Buffer.alloc(CHUNK_SIZE)
  #filled = 0
  #index = 0
  #size = 0
  // Ciphertexts and tags of the chunks sealed since the last push.
  #sealed: Buffer[] = []
  #result: Pick<PutResult, 'size' | 'sha256'> | undefined
  readonly #endsBlob: boolean

  /**
   * A blob written in blocks (appendable-blob-store.ts) seals each block apart: `firstChunk`
   * numbers its first chunk, and only the blob's final block (`endsBlob`) marks a last chunk.
   */
  constructor(dataKey: Buffer, blobKey: string, block = { firstChunk: 0, endsBlob: true }) {
    // Room for a batch on the way out, so sealing the next one overlaps its write.
    super({ readableHighWaterMark: BATCH_CHUNKS * (CHUNK_SIZE + TAG_BYTES) })
    this.#ciphers = new ChunkCiphers(dataKey, blobKey)
    this.#index = block.firstChunk
    this.#endsBlob = block.endsBlob
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.#hash.update(chunk)
    this.#size += chunk.length
    let offset = 0
    while (offset < chunk.length) {
      // A full chunk is sealed only once more bytes arrive: until the input ends, it could
      // still be the last one, and the last chunk is sealed as such.
      if (this.#filled === CHUNK_SIZE) this.#seal(false)
      const copied = chunk.copy(this.#pending, this.#filled, offset)
      this.#filled += copied
      offset += copied
    }
    callback()
  }

  override _flush(callback: TransformCallback) {
    this.#seal(this.#endsBlob)
    this.#pushBatch()
    this.#result = { size: this.#size, sha256: this.#hash.digest('hex') }
    callback()
  }

  /** Plaintext size and digest; only once the input has ended. */
  result(): Pick<PutResult, 'size' | 'sha256'> {
    if (!this.#result) throw new Error('ChunkSealer read before its input ended')
    return this.#result
  }

  #seal(last: boolean) {
    const cipher = this.#ciphers.cipher(this.#index, last)
    this.#sealed.push(cipher.update(this.#pending.subarray(0, this.#filled)))
    cipher.final()
    this.#sealed.push(cipher.getAuthTag())
    this.#index++
    this.#filled = 0
    if (this.#sealed.length === 2 * BATCH_CHUNKS) this.#pushBatch()
  }

  #pushBatch() {
    if (this.#sealed.length === 0) return
    this.push(Buffer.concat(this.#sealed))
    this.#sealed = []
  }
}
