import { freshBuffersAllocated } from '../infra/fresh-buffers.js'
import { BlobIntegrityError } from './blob-integrity-error.js'
import {
  ChunkCiphers,
  type ChunkLayout,
  chunkCount,
  type ReadPlan,
  TAG_BYTES,
} from './chunk-format.js'

export interface OpenChunksOptions {
  blobKey: string
  dataKey: Buffer
  layout: ChunkLayout
  plan: ReadPlan
}

/**
 * Sealed chunks `plan.first`..`plan.last` in, the plan's plaintext bytes out. A chunk's
 * plaintext is yielded only after its tag verified; the first failure throws
 * BlobIntegrityError and nothing more is yielded.
 *
 * A generator pulling from `source` rather than a Transform piped from it: each pull lets
 * the source start its next read before this chunk is decrypted, so reading and decrypting
 * overlap. Piped, the source would issue that read only after decryption returned.
 */
export async function* openChunks(
  source: AsyncIterable<Buffer>,
  options: OpenChunksOptions,
): AsyncGenerator<Buffer> {
  const opener = new ChunkOpener(options)
  for await (const chunk of source) yield* opener.write(chunk)
  opener.end()
}

class ChunkOpener {
  readonly #blobKey: string
  readonly #ciphers: ChunkCiphers
  readonly #layout: ChunkLayout
  readonly #finalIndex: number
  readonly #lastWanted: number
  readonly #frame: Buffer
  #filled = 0
  #index: number
  #skip: number
  #take: number

  constructor({ blobKey, dataKey, layout, plan }: OpenChunksOptions) {
    this.#blobKey = blobKey
    this.#ciphers = new ChunkCiphers(dataKey, blobKey)
    this.#layout = layout
    this.#finalIndex = chunkCount(layout) - 1
    this.#lastWanted = plan.last
    this.#frame = Buffer.alloc(Math.min(layout.chunkSize, layout.size) + TAG_BYTES)
    this.#index = plan.first
    this.#skip = plan.skip
    this.#take = plan.take
  }

  *write(chunk: Buffer): Generator<Buffer> {
    let offset = 0
    while (offset < chunk.length) {
      if (this.#index > this.#lastWanted) throw this.#failure('data after the last chunk')
      const length = this.#frameLength()
      if (this.#filled === 0 && chunk.length - offset >= length) {
        // A whole chunk inside the input: open it where it lies, without copying.
        yield* this.#open(chunk.subarray(offset, offset + length))
        offset += length
        continue
      }
      const copied = chunk.copy(this.#frame, this.#filled, offset, offset + length - this.#filled)
      this.#filled += copied
      offset += copied
      if (this.#filled === length) {
        this.#filled = 0
        yield* this.#open(this.#frame.subarray(0, length))
      }
    }
  }

  end() {
    if (this.#index <= this.#lastWanted) throw this.#failure(`truncated in chunk ${this.#index}`)
  }

  #frameLength(): number {
    const { chunkSize, size } = this.#layout
    return Math.min(chunkSize, size - this.#index * chunkSize) + TAG_BYTES
  }

  *#open(frame: Buffer): Generator<Buffer> {
    const body = frame.subarray(0, frame.length - TAG_BYTES)
    const tag = frame.subarray(body.length)
    const decipher = this.#ciphers.decipher(this.#index, this.#index === this.#finalIndex, tag)
    const plaintext = decipher.update(body)
    freshBuffersAllocated(plaintext.length)
    try {
      decipher.final()
    } catch {
      throw this.#failure(`chunk ${this.#index} failed authentication`)
    }
    this.#index++
    const from = Math.min(this.#skip, plaintext.length)
    this.#skip -= from
    const kept = plaintext.subarray(from, from + this.#take)
    this.#take -= kept.length
    if (kept.length > 0) yield kept
  }

  #failure(reason: string): BlobIntegrityError {
    return new BlobIntegrityError(this.#blobKey, reason)
  }
}
