import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { AppendHandle } from './appendable-blob-store.js'
import { assertBlobKey } from './blob-key.js'
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
import { CHUNK_SIZE, planRead } from './chunk-format.js'
import { openChunks } from './chunk-opener.js'
import { ChunkSealer } from './chunk-sealer.js'
import { EncryptedAppends } from './encrypted-append.js'
import { DATA_KEY_BYTES, openEnvelope, sealEnvelope } from './envelope.js'
import type { KeyRing } from './key-ring.js'
import { canLend, type LentPieces, streamPieces } from './lent-pieces.js'

/**
 * Encryption at rest around any BlobStore. Each blob gets its own random data key, wrapped
 * under the ring's current master key into the envelope that `put` returns; the content is
 * sealed in 64 KiB AES-256-GCM chunks (chunk-format.ts), so a range read fetches and opens
 * only the chunks it covers.
 *
 * `put` reports the plaintext's size and SHA-256. `head` and `list` report what the inner
 * store holds: the ciphertext, `encryptedSize(size)` bytes. A `get` without an envelope
 * reads the inner blob as it is, so files stored before encryption was enabled stay readable.
 */
export class EncryptedBlobStore implements BlobStore {
  readonly driver: BlobStore['driver']
  readonly #inner: BlobStore
  readonly #ring: KeyRing
  readonly #appends: EncryptedAppends

  constructor(options: { inner: BlobStore; keyRing: KeyRing }) {
    this.#inner = options.inner
    this.#ring = options.keyRing
    this.driver = options.inner.driver
    this.#appends = new EncryptedAppends(options)
  }

  put(key: string, body: Readable, options: PutOptions & { hash: false }): Promise<StoredBlob>
  put(key: string, body: Readable, options?: PutOptions): Promise<PutResult>
  async put(key: string, body: Readable, options?: PutOptions): Promise<StoredBlob | PutResult> {
    // Checked here as well: the key goes into the AAD before the inner store sees it.
    assertBlobKey(key)
    const dataKey = randomBytes(DATA_KEY_BYTES)
    const sealer = new ChunkSealer(dataKey, key, { hash: options?.hash })
    // A store that fails before reading its body would otherwise leave the sealer, and so
    // the body, stalled forever. Destroyed without the error: a small body may be sealed
    // whole already, the pipeline below done, and an error event nobody listens for would
    // crash the process. The sealer digests the plaintext; the ciphertext's digest would be
    // thrown away.
    const stored = this.#inner
      .put(key, sealer, { ...options, hash: false })
      .catch((error: unknown) => {
        sealer.destroy()
        throw error
      })
    const [piped, written] = await Promise.allSettled([pipeline(body, sealer), stored])
    // The store's reason first: a body error or an abort reaches it through the sealer, and
    // the body side may only have seen the sealer closing early.
    for (const outcome of [written, piped]) {
      if (outcome.status === 'rejected') throw outcome.reason
    }
    const plaintext = sealer.result()
    const envelope = sealEnvelope(key, this.#ring.current, {
      dataKey,
      chunkSize: CHUNK_SIZE,
      size: plaintext.size,
    })
    return { ...plaintext, envelope }
  }

  async get(key: string, range?: ByteRange, envelope?: string): Promise<Readable> {
    if (range) assertByteRange(range)
    if (envelope === undefined) return this.#inner.get(key, range)
    assertBlobKey(key)
    const { dataKey, ...layout } = openEnvelope(key, envelope, this.#ring)
    const plan = planRead(layout, range)
    const source = await this.#ciphertext(key, plan.cipherRange)
    const plaintext = Readable.from(openChunks(source, { blobKey: key, dataKey, layout, plan }), {
      objectMode: false,
    })
    // The generator closes the source only once it has started: a stream destroyed before
    // its first read (a client gone at once) would otherwise leave a file or socket open.
    plaintext.once('close', () => void source.close().catch(() => undefined))
    return plaintext
  }

  // Lent where the inner store can: every piece is decrypted at once and dropped, so fresh
  // buffers would double what the collector sweeps per byte served (bench/ranges.ts).
  async #ciphertext(key: string, range: ByteRange | undefined): Promise<LentPieces> {
    if (canLend(this.#inner)) return this.#inner.lend(key, range)
    return streamPieces(await this.#inner.get(key, range))
  }

  head(key: string): Promise<BlobInfo | undefined> {
    return this.#inner.head(key)
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(key)
  }

  list(options?: { after?: string }): AsyncIterable<BlobInfo> {
    return this.#inner.list(options)
  }

  listPartials(): AsyncIterable<PartialWrite> {
    return this.#inner.listPartials()
  }

  removePartial(partial: PartialWrite): Promise<void> {
    return this.#inner.removePartial(partial)
  }

  beginAppend(key: string, options: { blockSize: number }): Promise<AppendHandle> {
    return this.#appends.begin(key, options)
  }

  appendBlock(
    handle: AppendHandle,
    block: { index: number; length: number; final: boolean },
    body: Readable,
    options?: { signal?: AbortSignal; sync?: boolean },
  ): Promise<void> {
    return this.#appends.write(handle, block, body, options)
  }

  syncAppend(handle: AppendHandle): Promise<void> {
    return this.#appends.sync(handle)
  }

  /** The envelope comes back as from put, for the caller to keep with the file row. */
  completeAppend(handle: AppendHandle, options: { blocks: number; size: number }) {
    return this.#appends.complete(handle, options)
  }

  abortAppend(handle: AppendHandle): Promise<void> {
    return this.#appends.abort(handle)
  }

  ping(): Promise<void> {
    return this.#inner.ping()
  }
}

/**
 * The envelope of blob `key` with its data key wrapped under the ring's current master key,
 * or undefined if it already is; the content itself is untouched. Throws BlobIntegrityError
 * if the envelope cannot be opened with the ring (altered, or its key already dropped).
 */
export function rewrapEnvelope(envelope: string, ring: KeyRing, key: string): string | undefined {
  const { kid, ...blob } = openEnvelope(key, envelope, ring)
  return kid === ring.current.id ? undefined : sealEnvelope(key, ring.current, blob)
}
