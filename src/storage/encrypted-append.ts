import { randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  assertAppendKey,
  assertBlock,
  assertBlockSize,
  assertCompletion,
  type BlockRef,
  exactLength,
} from './append-rules.js'
import type { AppendHandle } from './appendable-blob-store.js'
import type { BlobStore } from './blob-store.js'
import { CHUNK_SIZE, encryptedSize } from './chunk-format.js'
import { ChunkSealer } from './chunk-sealer.js'
import { DATA_KEY_BYTES, openEnvelope, sealEnvelope } from './envelope.js'
import type { KeyRing } from './key-ring.js'
import { InvalidAppendError } from './storage-errors.js'

/**
 * Appendable blobs through EncryptedBlobStore. Plaintext block i is sealed as chunks
 * `i × blockSize / CHUNK_SIZE` onwards, in the format `put` writes, so the completed blob is
 * exactly what `put` would have stored for the same plaintext and data key. The inner store
 * appends the sealed blocks, each `encryptedSize(blockSize)` bytes but the final one.
 *
 * The handle's state carries the data key only wrapped under the ring's current master key
 * (as an envelope of an empty blob, whose size the completed blob's envelope replaces), and
 * the inner handle's state as JSON.
 */
export class EncryptedAppends {
  readonly #inner: BlobStore
  readonly #ring: KeyRing

  constructor(options: { inner: BlobStore; keyRing: KeyRing }) {
    this.#inner = options.inner
    this.#ring = options.keyRing
  }

  async begin(key: string, options: { blockSize: number }): Promise<AppendHandle> {
    // Checked here as well: the key goes into the AAD before the inner store sees it.
    assertAppendKey(key)
    const { blockSize } = options
    assertChunkAligned(blockSize)
    const dataKey = randomBytes(DATA_KEY_BYTES)
    const wrappedKey = sealEnvelope(key, this.#ring.current, {
      dataKey,
      chunkSize: CHUNK_SIZE,
      size: 0,
    })
    const inner = await this.#inner.beginAppend(key, { blockSize: encryptedSize(blockSize) })
    return { key, blockSize, state: { wrappedKey, inner: JSON.stringify(inner.state) } }
  }

  async write(
    handle: AppendHandle,
    block: BlockRef,
    body: Readable,
    options: { signal?: AbortSignal; sync?: boolean } = {},
  ): Promise<void> {
    const { signal } = options
    assertChunkAligned(handle.blockSize)
    assertBlock(handle, block)
    const sealer = new ChunkSealer(this.#dataKey(handle), handle.key, {
      firstChunk: (block.index * handle.blockSize) / CHUNK_SIZE,
      endsBlob: block.final,
      // The uploads service hashes the whole file's plaintext itself.
      hash: false,
    })
    const sealed = { ...block, length: encryptedSize(block.length) }
    // A store failing before it reads would leave the sealer, and the body, stalled. Destroyed
    // without an error: a small block may be sealed whole, its pipeline done and no listener
    // left, and an 'error' event then would crash the process.
    const stored = this.#inner
      .appendBlock(innerHandle(handle), sealed, sealer, options)
      .catch((error: unknown) => {
        sealer.destroy()
        throw error
      })
    const [piped, written] = await Promise.allSettled([
      pipeline(body, exactLength(block.length), sealer, { signal }),
      stored,
    ])
    // The store's reason first, as in put: the body's error reaches it through the sealer.
    for (const outcome of [written, piped]) {
      if (outcome.status === 'rejected') throw outcome.reason
    }
  }

  async complete(
    handle: AppendHandle,
    options: { blocks: number; size: number },
  ): Promise<{ envelope?: string }> {
    assertCompletion(handle, options)
    const dataKey = this.#dataKey(handle)
    // Every block but the final one ends on a chunk boundary, so the sealed blocks add up to
    // exactly what put would store for `size` bytes.
    await this.#inner.completeAppend(innerHandle(handle), {
      blocks: options.blocks,
      size: encryptedSize(options.size),
    })
    const envelope = sealEnvelope(handle.key, this.#ring.current, {
      dataKey,
      chunkSize: CHUNK_SIZE,
      size: options.size,
    })
    return { envelope }
  }

  sync(handle: AppendHandle): Promise<void> {
    return this.#inner.syncAppend(innerHandle(handle))
  }

  abort(handle: AppendHandle): Promise<void> {
    return this.#inner.abortAppend(innerHandle(handle))
  }

  #dataKey(handle: AppendHandle): Buffer {
    return openEnvelope(handle.key, handle.state.wrappedKey ?? '', this.#ring).dataKey
  }
}

function innerHandle(handle: AppendHandle): AppendHandle {
  let state: unknown
  try {
    state = JSON.parse(handle.state.inner ?? '')
  } catch {
    state = undefined
  }
  if (typeof state !== 'object' || state === null) {
    throw new InvalidAppendError('not an encrypted append handle')
  }
  return {
    key: handle.key,
    blockSize: encryptedSize(handle.blockSize),
    state: state as Record<string, string>,
  }
}

// A block must end on a chunk boundary for its chunks to be numbered on their own.
function assertChunkAligned(blockSize: number): void {
  assertBlockSize(blockSize)
  if (blockSize % CHUNK_SIZE !== 0) {
    throw new InvalidAppendError(`blockSize must be a multiple of ${CHUNK_SIZE}`)
  }
}
