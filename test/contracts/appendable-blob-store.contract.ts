import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { expect, it } from 'vitest'
import type { AppendHandle } from '../../src/storage/appendable-blob-store.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import type { BlobStore, PartialWrite } from '../../src/storage/blob-store.js'
import {
  AppendNotFoundError,
  BlobNotFoundError,
  InvalidAppendError,
} from '../../src/storage/storage-errors.js'

const MiB = 1024 * 1024
// The smallest a caller may choose (S3's smallest part).
const BLOCK = 5 * MiB

export interface AppendSubject {
  store: BlobStore
  storedSize: (size: number) => number
  /** Another instance over the same bytes, as another process would build; none in memory. */
  reopen?: () => BlobStore
  /** Writes left unfinished as the backend itself shows them (multipart uploads, files). */
  pendingWrites?: () => Promise<number>
}

/** Appendable-blob cases of the BlobStore contract; blob-store.contract.ts runs them. */
export function appendableContract(subject: () => AppendSubject) {
  async function write(handle: AppendHandle, index: number, bytes: Buffer, final = false) {
    await subject().store.appendBlock(
      handle,
      { index, length: bytes.length, final },
      inPieces(bytes),
    )
  }

  async function partials(): Promise<PartialWrite[]> {
    const found: PartialWrite[] = []
    for await (const partial of subject().store.listPartials()) found.push(partial)
    return found
  }

  async function expectLeftovers(count: number) {
    expect(await partials()).toHaveLength(count)
    if (subject().pendingWrites) expect(await subject().pendingWrites?.()).toBe(count)
  }

  async function read(key: string, envelope?: string, range?: { start: number; end: number }) {
    return Buffer.concat(await (await subject().store.get(key, range, envelope)).toArray())
  }

  it('appends blocks out of order, rewritten, into exactly the bytes given', async () => {
    const { store, storedSize } = subject()
    const key = newBlobKey()
    const blocks = [randomBytes(BLOCK), randomBytes(BLOCK), randomBytes(MiB + 17)]
    const size = BLOCK * 2 + MiB + 17
    const handle = await store.beginAppend(key, { blockSize: BLOCK })

    await write(handle, 2, blocks[2]!, true)
    await write(handle, 0, randomBytes(BLOCK))
    await write(handle, 1, blocks[1]!)
    await write(handle, 0, blocks[0]!)

    expect(await store.head(key)).toBeUndefined()
    const [partial] = await partials()
    expect(partial?.since.getTime()).toBeGreaterThan(Date.now() - 60_000)
    // With its key on every store: the reconciler spares an append a row still names.
    expect(partial?.key).toBe(key)
    const { envelope } = await store.completeAppend(handle, { blocks: 3, size })

    const bytes = Buffer.concat(blocks)
    expectSame(await read(key, envelope), bytes)
    expect(await store.head(key)).toMatchObject({ key, size: storedSize(size) })
    for (const [start, end] of [
      [0, 0],
      [BLOCK - 3, BLOCK + 2],
      [BLOCK * 2 - 1, size - 1],
      [size - 1, size - 1],
    ] as const) {
      expectSame(await read(key, envelope, { start, end }), bytes.subarray(start, end + 1))
    }
    await expectLeftovers(0)
    await store.delete(key)
  })

  it('stores a blob of one short block, and an empty one', async () => {
    const { store, storedSize } = subject()
    for (const size of [MiB + 1, 0]) {
      const key = newBlobKey()
      const bytes = randomBytes(size)
      const handle = await store.beginAppend(key, { blockSize: BLOCK })
      await write(handle, 0, bytes, true)
      const { envelope } = await store.completeAppend(handle, { blocks: 1, size })

      expectSame(await read(key, envelope), bytes)
      expect(await store.head(key)).toMatchObject({ size: storedSize(size) })
      await store.delete(key)
    }
    await expectLeftovers(0)
  })

  it('rejects with the body error, and the block written again completes the blob', async () => {
    const { store } = subject()
    const key = newBlobKey()
    const blocks = [randomBytes(BLOCK), randomBytes(BLOCK)]
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    await write(handle, 0, blocks[0]!)
    const failure = new Error('client went away')

    // Fails a rewrite of a block already written, after most of it arrived.
    const failing = Readable.from(
      (async function* () {
        yield randomBytes(BLOCK - MiB)
        await sleep(20)
        throw failure
      })(),
    )
    await expect(
      store.appendBlock(handle, { index: 0, length: BLOCK, final: false }, failing),
    ).rejects.toBe(failure)
    const aborted = store.appendBlock(
      handle,
      { index: 1, length: BLOCK, final: true },
      inPieces(randomBytes(BLOCK)),
      { signal: AbortSignal.abort() },
    )
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    await write(handle, 0, blocks[0]!)
    await write(handle, 1, blocks[1]!, true)
    const { envelope } = await store.completeAppend(handle, { blocks: 2, size: 2 * BLOCK })

    expectSame(await read(key, envelope), Buffer.concat(blocks))
    await store.delete(key)
    await expectLeftovers(0)
  })

  it('refuses a body of another length than announced, and blocks that do not fit', async () => {
    const { store } = subject()
    const key = newBlobKey()
    const handle = await store.beginAppend(key, { blockSize: BLOCK })

    for (const [block, body] of [
      [{ index: 0, length: BLOCK, final: false }, randomBytes(BLOCK - 1)],
      [{ index: 0, length: BLOCK, final: false }, randomBytes(BLOCK + 1)],
      [{ index: 0, length: BLOCK - 1, final: false }, randomBytes(BLOCK - 1)],
      [{ index: 1, length: 0, final: true }, Buffer.alloc(0)],
      [{ index: -1, length: BLOCK, final: false }, randomBytes(BLOCK)],
    ] as const) {
      await expect(store.appendBlock(handle, block, inPieces(body))).rejects.toBeInstanceOf(
        InvalidAppendError,
      )
    }
    await expect(store.beginAppend(newBlobKey(), { blockSize: MiB })).rejects.toBeInstanceOf(
      InvalidAppendError,
    )
    // A key listPartials would never report, so an abandoned append would never be removed.
    await expect(store.beginAppend('blobs/notes', { blockSize: BLOCK })).rejects.toBeInstanceOf(
      InvalidAppendError,
    )
    // The final block never written: there is nothing to complete. (A block missing before
    // it only the caller can know of; local disk would read its hole as zeros.)
    await write(handle, 0, randomBytes(BLOCK))
    await expect(store.completeAppend(handle, { blocks: 2, size: BLOCK + 10 })).rejects.toThrow()
    expect(await store.head(key)).toBeUndefined()
    await store.abortAppend(handle)
  })

  it('answers a completion asked again with the same result', async () => {
    const { store } = subject()
    const key = newBlobKey()
    const bytes = randomBytes(1000)
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    await write(handle, 0, bytes, true)

    const first = await store.completeAppend(handle, { blocks: 1, size: 1000 })
    const again = await store.completeAppend(handle, { blocks: 1, size: 1000 })

    expectSame(await read(key, again.envelope), bytes)
    expectSame(await read(key, first.envelope), bytes)
    await store.delete(key)
  })

  it('aborts: every block gone, idempotently, and the handle is done with', async () => {
    const { store } = subject()
    const key = newBlobKey()
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    await write(handle, 0, randomBytes(BLOCK))
    await write(handle, 1, randomBytes(100), true)
    await expectLeftovers(1)

    await store.abortAppend(handle)
    await store.abortAppend(handle)

    await expectLeftovers(0)
    expect(await store.head(key)).toBeUndefined()
    await expect(store.get(key)).rejects.toBeInstanceOf(BlobNotFoundError)
    await expect(write(handle, 0, randomBytes(BLOCK))).rejects.toBeInstanceOf(AppendNotFoundError)
    await expect(store.completeAppend(handle, { blocks: 2, size: BLOCK + 100 })).rejects.toThrow()
    await expectLeftovers(0)
  })

  it('lists an append as a partial, which removePartial discards', async () => {
    const { store } = subject()
    const key = newBlobKey()
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    await write(handle, 0, randomBytes(BLOCK))
    const [partial] = await partials()

    await store.removePartial(partial!)

    await expectLeftovers(0)
    await expect(write(handle, 1, randomBytes(10), true)).rejects.toBeInstanceOf(
      AppendNotFoundError,
    )
    await expect(store.completeAppend(handle, { blocks: 2, size: BLOCK + 10 })).rejects.toThrow()
    expect(await store.head(key)).toBeUndefined()
    await store.abortAppend(handle)
  })

  it('fails a block still streaming when its append is removed, and leaves nothing', async () => {
    const { store } = subject()
    const key = newBlobKey()
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    const body = new Readable({ read() {} })
    body.push(randomBytes(BLOCK - MiB))
    const writing = store.appendBlock(handle, { index: 0, length: BLOCK, final: true }, body)
    writing.catch(() => undefined)
    await sleep(50)

    const [partial] = await partials()
    await store.removePartial(partial!)
    body.push(randomBytes(MiB))
    body.push(null)

    await expect(writing).rejects.toBeInstanceOf(AppendNotFoundError)
    await expectLeftovers(0)
    await expect(store.completeAppend(handle, { blocks: 1, size: BLOCK })).rejects.toThrow()
    expect(await store.head(key)).toBeUndefined()
  })

  it('takes blocks unsynced and makes them durable with one sync, from any instance', async () => {
    const { store, reopen } = subject()
    const key = newBlobKey()
    const blocks = [randomBytes(BLOCK), randomBytes(BLOCK), randomBytes(MiB + 3)]
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    for (const [index, bytes] of blocks.entries()) {
      const block = { index, length: bytes.length, final: index === blocks.length - 1 }
      await store.appendBlock(handle, block, inPieces(bytes), { sync: false })
    }
    await (reopen?.() ?? store).syncAppend(JSON.parse(JSON.stringify(handle)))
    const { envelope } = await store.completeAppend(handle, {
      blocks: 3,
      size: 2 * BLOCK + MiB + 3,
    })
    expectSame(await read(key, envelope), Buffer.concat(blocks))

    const gone = await store.beginAppend(newBlobKey(), { blockSize: BLOCK })
    await store.appendBlock(gone, { index: 0, length: 1, final: true }, inPieces(Buffer.of(1)), {
      sync: false,
    })
    await store.abortAppend(gone)
    // A store whose writes are durable at once need not look; one that looks must say so.
    const answer = await store.syncAppend(gone).catch((error: unknown) => error)
    if (answer !== undefined) expect(answer).toBeInstanceOf(AppendNotFoundError)
    await store.delete(key)
    await expectLeftovers(0)
  })

  it('goes on in another process from the handle as JSON, and completes there', async () => {
    const { store, reopen } = subject()
    if (!reopen) return
    const key = newBlobKey()
    const blocks = [randomBytes(BLOCK), randomBytes(3 * MiB)]
    const handle = await store.beginAppend(key, { blockSize: BLOCK })
    await write(handle, 0, blocks[0]!)

    const other = reopen()
    const revived: AppendHandle = JSON.parse(JSON.stringify(handle))
    await other.appendBlock(
      revived,
      { index: 1, length: blocks[1]!.length, final: true },
      inPieces(blocks[1]!),
    )
    const size = BLOCK + 3 * MiB
    const { envelope } = await other.completeAppend(revived, { blocks: 2, size })

    expectSame(await read(key, envelope), Buffer.concat(blocks))
    await store.delete(key)
    await expectLeftovers(0)
  })
}

/** The bytes in uneven pieces, as they come off a socket. */
export function inPieces(bytes: Buffer): Readable {
  const pieces: Buffer[] = []
  for (let at = 0, size = 1; at < bytes.length; size = Math.min(size * 2 + 1, 256 * 1024)) {
    pieces.push(bytes.subarray(at, at + size))
    at += size
  }
  return Readable.from(pieces)
}

// By digest: vitest compares Buffers element by element, seconds per MiB.
function expectSame(actual: Buffer, expected: Buffer) {
  expect({ size: actual.length, sha256: sha256(actual) }).toEqual({
    size: expected.length,
    sha256: sha256(expected),
  })
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
