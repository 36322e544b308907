import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { AppendHandle } from '../../src/storage/appendable-blob-store.js'
import { BlobIntegrityError } from '../../src/storage/blob-integrity-error.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { CHUNK_SIZE, encryptedSize } from '../../src/storage/chunk-format.js'
import { ChunkSealer } from '../../src/storage/chunk-sealer.js'
import { EncryptedBlobStore } from '../../src/storage/encrypted-blob-store.js'
import { openEnvelope } from '../../src/storage/envelope.js'
import { parseKeyRing } from '../../src/storage/key-ring.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { InvalidAppendError } from '../../src/storage/storage-errors.js'
import { inPieces } from './appendable-blob-store.contract.js'

const MiB = 1024 * 1024
const BLOCK = 5 * MiB
const KEY_A = randomBytes(32).toString('base64')
const KEY_B = randomBytes(32).toString('base64')

function setup(ring = `a:${KEY_A}`) {
  const inner = new MemoryBlobStore()
  const keyRing = parseKeyRing(ring)
  return { inner, keyRing, store: new EncryptedBlobStore({ inner, keyRing }) }
}

/** Appends `bytes` in blocks, last block first, and completes. */
async function append(store: BlobStore, bytes: Buffer, options: { lastUnmarked?: boolean } = {}) {
  const key = newBlobKey()
  const handle = await store.beginAppend(key, { blockSize: BLOCK })
  const blocks = Math.max(1, Math.ceil(bytes.length / BLOCK))
  for (let index = blocks - 1; index >= 0; index--) {
    const block = bytes.subarray(index * BLOCK, (index + 1) * BLOCK)
    const final = index === blocks - 1 && !options.lastUnmarked
    await store.appendBlock(handle, { index, length: block.length, final }, inPieces(block))
  }
  const { envelope } = await store.completeAppend(handle, { blocks, size: bytes.length })
  return { key, handle, envelope: envelope! }
}

describe('EncryptedBlobStore appends', () => {
  it('stores exactly what put would for the same plaintext and data key', async () => {
    const { inner, keyRing, store } = setup()
    // A final block ending mid-chunk, one ending on a chunk boundary, one block, none.
    for (const size of [2 * BLOCK + 100_000, BLOCK + 3 * CHUNK_SIZE, CHUNK_SIZE - 1, 0]) {
      const bytes = randomBytes(size)
      const { key, envelope } = await append(store, bytes)

      const { dataKey } = openEnvelope(key, envelope, keyRing)
      const sealed = await collect(Readable.from([bytes]).pipe(new ChunkSealer(dataKey, key)))
      const stored = await collect(await inner.get(key))
      expect(digest(stored)).toEqual(digest(sealed))
      expect(stored.length).toBe(encryptedSize(size))
      expect(digest(await collect(await store.get(key, undefined, envelope)))).toEqual(
        digest(bytes),
      )
    }
  })

  it('detects a block altered in the store, and still serves the blocks around it', async () => {
    const { inner, store } = setup()
    const bytes = randomBytes(2 * BLOCK + 10)
    const { key, envelope } = await append(store, bytes)
    const stored = await collect(await inner.get(key))
    stored[encryptedSize(BLOCK) + 1000]! ^= 1
    await inner.put(key, Readable.from([stored]))

    await expect(collect(await store.get(key, undefined, envelope))).rejects.toBeInstanceOf(
      BlobIntegrityError,
    )
    const inBlock1 = { start: BLOCK, end: BLOCK + 10 }
    await expect(collect(await store.get(key, inBlock1, envelope))).rejects.toBeInstanceOf(
      BlobIntegrityError,
    )
    const inBlock2 = { start: 2 * BLOCK, end: 2 * BLOCK + 9 }
    expect(await collect(await store.get(key, inBlock2, envelope))).toEqual(
      bytes.subarray(2 * BLOCK),
    )
  })

  it('never serves a blob whose final block was not written as final', async () => {
    const { store } = setup()
    // A full block, the only kind a non-final write may be.
    const { key, envelope } = await append(store, randomBytes(2 * BLOCK), { lastUnmarked: true })

    await expect(collect(await store.get(key, undefined, envelope))).rejects.toBeInstanceOf(
      BlobIntegrityError,
    )
  })

  it('keeps the data key in the handle only wrapped under the master key', async () => {
    const { store, keyRing } = setup()
    const { key, handle, envelope } = await append(store, randomBytes(100))
    const { dataKey } = openEnvelope(key, envelope, keyRing)

    const json = JSON.stringify(handle)
    for (const encoding of ['hex', 'base64', 'base64url'] as const) {
      expect(json).not.toContain(dataKey.toString(encoding))
    }
    // Another master key cannot go on with it.
    const stranger = new EncryptedBlobStore({
      inner: new MemoryBlobStore(),
      keyRing: parseKeyRing(`a:${KEY_B}`),
    })
    await expect(
      stranger.appendBlock(handle, { index: 0, length: 1, final: true }, inPieces(Buffer.of(1))),
    ).rejects.toBeInstanceOf(BlobIntegrityError)
  })

  it('goes on across a key rotation and wraps the blob under the new current key', async () => {
    const inner = new MemoryBlobStore()
    const before = new EncryptedBlobStore({ inner, keyRing: parseKeyRing(`a:${KEY_A}`) })
    const rotated = parseKeyRing(`a:${KEY_A},b:${KEY_B}`)
    const after = new EncryptedBlobStore({ inner, keyRing: rotated })
    const key = newBlobKey()
    const bytes = randomBytes(BLOCK + 5)
    const handle: AppendHandle = await before.beginAppend(key, { blockSize: BLOCK })
    await before.appendBlock(
      handle,
      { index: 0, length: BLOCK, final: false },
      inPieces(bytes.subarray(0, BLOCK)),
    )

    await after.appendBlock(
      handle,
      { index: 1, length: 5, final: true },
      inPieces(bytes.subarray(BLOCK)),
    )
    const { envelope } = await after.completeAppend(handle, { blocks: 2, size: bytes.length })

    expect(openEnvelope(key, envelope!, rotated).kid).toBe('b')
    expect(digest(await collect(await after.get(key, undefined, envelope)))).toEqual(digest(bytes))
  })

  it('refuses a block size that does not end on a chunk boundary', async () => {
    const { store } = setup()

    await expect(
      store.beginAppend(newBlobKey(), { blockSize: BLOCK + 1000 }),
    ).rejects.toBeInstanceOf(InvalidAppendError)
  })
})

async function collect(stream: Readable): Promise<Buffer> {
  return Buffer.concat(await stream.toArray())
}

// By digest: vitest compares Buffers element by element, seconds per MiB.
function digest(bytes: Buffer) {
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
}
