import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { BlobIntegrityError } from '../../src/storage/blob-integrity-error.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import type { BlobStore, ByteRange } from '../../src/storage/blob-store.js'
import { CHUNK_SIZE, encryptedSize, TAG_BYTES } from '../../src/storage/chunk-format.js'
import { EncryptedBlobStore, rewrapEnvelope } from '../../src/storage/encrypted-blob-store.js'
import { parseKeyRing } from '../../src/storage/key-ring.js'
import { LocalBlobStore } from '../../src/storage/local-blob-store.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { BlobNotFoundError } from '../../src/storage/storage-errors.js'
import { withFaults } from '../helpers/stores.js'

const KiB = 1024
const MiB = 1024 * KiB
const STRIDE = CHUNK_SIZE + TAG_BYTES
const KEY_A = randomBytes(32).toString('base64')
const KEY_B = randomBytes(32).toString('base64')

function setup(ring = `a:${KEY_A}`) {
  const inner = new MemoryBlobStore()
  return { inner, store: new EncryptedBlobStore({ inner, keyRing: parseKeyRing(ring) }) }
}

async function put(store: BlobStore, bytes: Buffer, key = newBlobKey()) {
  // Uneven pieces, so chunk boundaries never line up with the input's.
  const pieces = [] as Buffer[]
  for (let at = 0; at < bytes.length; at += 10_007) pieces.push(bytes.subarray(at, at + 10_007))
  const result = await store.put(key, Readable.from(pieces))
  return { key, envelope: result.envelope!, result }
}

describe('EncryptedBlobStore', () => {
  it('round-trips sizes around the chunk size, with the plaintext size and SHA-256', async () => {
    const { inner, store } = setup()
    for (const size of [
      0,
      1,
      CHUNK_SIZE - 1,
      CHUNK_SIZE,
      CHUNK_SIZE + 1,
      2 * CHUNK_SIZE,
      5 * MiB + 3,
    ]) {
      const bytes = randomBytes(size)
      const { key, envelope, result } = await put(store, bytes)

      expect(result).toEqual({ size, sha256: sha256(bytes), envelope: expect.any(String) })
      // Buffer.equals: toEqual compares byte by byte and takes seconds over MiBs.
      expect((await read(store.get(key, undefined, envelope))).equals(bytes)).toBe(true)
      expect((await inner.head(key))?.size).toBe(encryptedSize(size))
    }
  })

  it('serves ranges at and across chunk boundaries as plaintext slices', async () => {
    const { store } = setup()
    const bytes = randomBytes(5 * CHUNK_SIZE + 1234)
    const { key, envelope } = await put(store, bytes)
    const last = bytes.length - 1
    const boundaries: [number, number][] = [
      [0, 0],
      [0, CHUNK_SIZE - 1],
      [CHUNK_SIZE - 1, CHUNK_SIZE],
      [CHUNK_SIZE, CHUNK_SIZE],
      [CHUNK_SIZE, 2 * CHUNK_SIZE - 1],
      [CHUNK_SIZE + 5, 4 * CHUNK_SIZE + 7],
      [5 * CHUNK_SIZE, last],
      [last, last],
      [0, last],
    ]
    const random = mulberry32(20240601)
    const randomRanges = Array.from({ length: 200 }, (): [number, number] => {
      const start = Math.floor(random() * bytes.length)
      const length = 1 + Math.floor(random() * (random() < 0.5 ? 100 : 3 * CHUNK_SIZE))
      return [start, Math.min(last, start + length - 1)]
    })

    for (const [start, end] of [...boundaries, ...randomRanges]) {
      const part = await read(store.get(key, { start, end }, envelope))
      expect(part.equals(bytes.subarray(start, end + 1)), `range ${start}-${end}`).toBe(true)
    }
  })

  it('clamps a range past the end, as the plain stores do', async () => {
    const { store } = setup()
    const bytes = randomBytes(CHUNK_SIZE + 10)
    const { key, envelope } = await put(store, bytes)
    const empty = await put(store, Buffer.alloc(0))

    expect(
      await read(store.get(key, { start: CHUNK_SIZE, end: 10 * CHUNK_SIZE }, envelope)),
    ).toEqual(bytes.subarray(CHUNK_SIZE))
    expect(
      await read(store.get(key, { start: 3 * CHUNK_SIZE, end: 4 * CHUNK_SIZE }, envelope)),
    ).toEqual(Buffer.alloc(0))
    expect(await read(store.get(empty.key, { start: 0, end: 0 }, empty.envelope))).toEqual(
      Buffer.alloc(0),
    )
  })

  it('fetches only the stored chunks that cover a range', async () => {
    const inner = new MemoryBlobStore()
    const fetched: (ByteRange | undefined)[] = []
    const spy = withOverrides(inner, {
      get: (key, range) => {
        fetched.push(range)
        return inner.get(key, range)
      },
    })
    const store = new EncryptedBlobStore({ inner: spy, keyRing: parseKeyRing(KEY_A) })
    const { key, envelope } = await put(store, randomBytes(4 * CHUNK_SIZE + 100))

    await read(store.get(key, { start: 2 * CHUNK_SIZE + 1, end: 2 * CHUNK_SIZE + 9 }, envelope))
    await read(store.get(key, { start: CHUNK_SIZE - 1, end: CHUNK_SIZE }, envelope))
    await read(store.get(key, { start: 4 * CHUNK_SIZE, end: 4 * CHUNK_SIZE + 99 }, envelope))

    expect(fetched).toEqual([
      { start: 2 * STRIDE, end: 3 * STRIDE - 1 },
      { start: 0, end: 2 * STRIDE - 1 },
      { start: 4 * STRIDE, end: 4 * STRIDE + 100 + TAG_BYTES - 1 },
    ])
  })

  it('closes the inner stream when the reader goes away, even before reading', async () => {
    const inner = new MemoryBlobStore()
    const opened: Readable[] = []
    const spy = withOverrides(inner, {
      get: async (key, range) => {
        const stream = await inner.get(key, range)
        opened.push(stream)
        return stream
      },
    })
    const store = new EncryptedBlobStore({ inner: spy, keyRing: parseKeyRing(KEY_A) })
    const { key, envelope } = await put(store, randomBytes(3 * CHUNK_SIZE))

    ;(await store.get(key, undefined, envelope)).destroy()
    const partly = await store.get(key, undefined, envelope)
    await new Promise((resolve) => partly.once('data', resolve))
    partly.destroy()
    await new Promise((resolve) => setImmediate(resolve))

    expect(opened.map((stream) => stream.destroyed)).toEqual([true, true])
  })

  it("reads a local store's ciphertext as lent pieces, and gives them back however it ends", async () => {
    const root = await mkdtemp(join(tmpdir(), 'satchel-lent-'))
    try {
      const local = new LocalBlobStore({ root })
      const calls: string[] = []
      const lend = local.lend.bind(local)
      local.lend = async (key, range) => {
        const pieces = await lend(key, range)
        const close = pieces.close.bind(pieces)
        calls.push('lend')
        pieces.close = () => {
          calls.push('close')
          return close()
        }
        return pieces
      }
      const get = local.get.bind(local)
      local.get = (key, range) => {
        calls.push('get')
        return get(key, range)
      }
      const store = new EncryptedBlobStore({ inner: local, keyRing: parseKeyRing(KEY_A) })
      // Several of the local store's reads, so both lent buffers are reused.
      const bytes = randomBytes(12 * CHUNK_SIZE + 7)
      const { key, envelope } = await put(store, bytes)
      const range = { start: CHUNK_SIZE + 3, end: 10 * CHUNK_SIZE }

      expect(sha256(await read(store.get(key, undefined, envelope)))).toBe(sha256(bytes))
      expect(sha256(await read(store.get(key, range, envelope)))).toBe(
        sha256(bytes.subarray(range.start, range.end + 1)),
      )
      ;(await store.get(key, range, envelope)).destroy()
      await new Promise((resolve) => setImmediate(resolve))

      expect(calls.filter((call) => call !== 'close')).toEqual(['lend', 'lend', 'lend'])
      expect(calls.at(-1)).toBe('close')
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  })

  it('reports a deleted blob as not found, envelope or not', async () => {
    const { store } = setup()
    const { key, envelope } = await put(store, randomBytes(10))
    await store.delete(key)

    await expect(store.get(key, undefined, envelope)).rejects.toBeInstanceOf(BlobNotFoundError)
  })

  it('streams: sealed chunks reach the inner store before the body has ended', async () => {
    const inner = new MemoryBlobStore()
    let received = 0
    const counting = withOverrides(inner, {
      put: (key, body) => {
        body.on('data', (chunk: Buffer) => {
          received += chunk.length
        })
        return inner.put(key, body)
      },
    })
    const store = new EncryptedBlobStore({ inner: counting, keyRing: parseKeyRing(KEY_A) })
    let receivedMidway = 0
    const body = Readable.from(
      (async function* () {
        yield randomBytes(3 * MiB)
        await new Promise((resolve) => setTimeout(resolve, 20))
        receivedMidway = received
        yield randomBytes(MiB)
      })(),
    )

    await store.put(newBlobKey(), body)

    expect(receivedMidway).toBeGreaterThan(MiB)
    expect(received).toBe(encryptedSize(4 * MiB))
  })

  it('digests only the plaintext: the inner store is told not to hash the ciphertext', async () => {
    const inner = new MemoryBlobStore()
    const innerResults: object[] = []
    const recording = withOverrides(inner, {
      put: async (key, body, options) => {
        const result = await inner.put(key, body, options)
        innerResults.push(result)
        return result
      },
    })
    const store = new EncryptedBlobStore({ inner: recording, keyRing: parseKeyRing(KEY_A) })
    const bytes = randomBytes(MiB + 3)

    const { result } = await put(store, bytes)

    expect(result.sha256).toBe(sha256(bytes))
    expect(innerResults).toEqual([{ size: encryptedSize(bytes.length) }])
  })

  it('rejects, and nothing else fails, when the inner store fails after a small body is sealed', async () => {
    const inner = withFaults(new MemoryBlobStore(), {
      put: async () => {
        await sleep(50)
        throw new Error('store down')
      },
    })
    const store = new EncryptedBlobStore({ inner, keyRing: parseKeyRing(KEY_A) })
    const uncaught: unknown[] = []
    const record = (error: unknown) => uncaught.push(error)
    process.on('uncaughtException', record)
    try {
      // Sealed whole long before the store fails: nothing reads the sealer any more.
      await expect(store.put(newBlobKey(), Readable.from([randomBytes(10)]))).rejects.toThrow(
        'store down',
      )
      // Stream errors are emitted a tick after the stream is destroyed.
      await sleep(10)
    } finally {
      process.off('uncaughtException', record)
    }
    expect(uncaught).toEqual([])
  })

  it('stores no recognisable plaintext', async () => {
    const { inner, store } = setup()
    const marker = 'SATCHEL-PLAINTEXT-MARKER-'
    const { key } = await put(store, Buffer.from(marker.repeat(20_000)))

    const stored = await read(inner.get(key))

    expect(stored.includes(marker.slice(0, 8))).toBe(false)
  })

  it('reads a blob stored without an envelope as it is', async () => {
    const { inner, store } = setup()
    const bytes = randomBytes(1000)
    const key = newBlobKey()
    await inner.put(key, Readable.from([bytes]))

    expect(await read(store.get(key))).toEqual(bytes)
    expect(await read(store.get(key, { start: 10, end: 19 }))).toEqual(bytes.subarray(10, 20))
  })
})

describe('EncryptedBlobStore integrity', () => {
  const plaintext = randomBytes(4 * CHUNK_SIZE + 500)

  /** A blob of `plaintext`, then its stored chunks rewritten by `tamper`. */
  async function tampered(tamper: (chunks: Buffer[], other: Buffer[]) => Buffer[]) {
    const { inner, store } = setup()
    const { key, envelope } = await put(store, plaintext)
    const other = await put(store, randomBytes(plaintext.length))
    const chunks = splitChunks(await read(inner.get(key)))
    const rewritten = Buffer.concat(tamper(chunks, splitChunks(await read(inner.get(other.key)))))
    await inner.put(key, Readable.from([rewritten]))
    return { store, key, envelope }
  }

  const cases: [string, (chunks: Buffer[], other: Buffer[]) => Buffer[], number][] = [
    ['a flipped ciphertext byte', (c) => withChunk(c, 2, flip(c[2]!, 100)), 2],
    ['a flipped tag byte', (c) => withChunk(c, 2, flip(c[2]!, c[2]!.length - 1)), 2],
    ['a dropped last chunk', (c) => c.slice(0, -1), 4],
    ['a last chunk cut short', (c) => withChunk(c, 4, c[4]!.subarray(0, 10)), 4],
    ['nothing stored at all', () => [], 0],
    ['a duplicated chunk', (c) => [c[0]!, c[1]!, c[1]!, ...c.slice(2)], 2],
    ['an appended copy of the last chunk', (c) => [...c, c[4]!], 5],
    ['two chunks swapped', (c) => [c[0]!, c[2]!, c[1]!, ...c.slice(3)], 1],
    ['a chunk from another blob', (c, other) => withChunk(c, 3, other[3]!), 3],
  ]

  it.each(cases)(
    'detects %s on a full read, serving only verified chunks before it',
    async (_, tamper, at) => {
      const { store, key, envelope } = await tampered(tamper)

      const { bytes, error } = await outcome(store.get(key, undefined, envelope))

      expect(error).toBeInstanceOf(BlobIntegrityError)
      expect(error).toMatchObject({ code: 'blob_integrity_error', status: 500 })
      expect(bytes.length).toBeLessThanOrEqual(at * CHUNK_SIZE)
      expect(bytes.equals(plaintext.subarray(0, bytes.length))).toBe(true)
    },
  )

  it('detects a damaged chunk on a ranged read', async () => {
    const { store, key, envelope } = await tampered((c) => withChunk(c, 1, flip(c[1]!, 7)))

    const range = { start: CHUNK_SIZE + 3, end: CHUNK_SIZE + 5 }
    const { bytes, error } = await outcome(store.get(key, range, envelope))

    expect(error).toBeInstanceOf(BlobIntegrityError)
    expect(bytes.length).toBe(0)
  })

  it('detects an empty blob that gained bytes', async () => {
    const { inner, store } = setup()
    const { key, envelope } = await put(store, Buffer.alloc(0))
    const stored = await read(inner.get(key))
    await inner.put(key, Readable.from([Buffer.concat([stored, stored])]))

    const { bytes, error } = await outcome(store.get(key, undefined, envelope))

    expect(error).toBeInstanceOf(BlobIntegrityError)
    expect(bytes.length).toBe(0)
  })

  it('refuses the envelope of another blob, or one altered', async () => {
    const { store } = setup()
    const first = await put(store, randomBytes(100))
    const second = await put(store, randomBytes(100))
    const altered = JSON.stringify({ ...JSON.parse(first.envelope), size: 99 })

    for (const envelope of [second.envelope, altered, '{"v":1}', 'not json']) {
      await expect(store.get(first.key, undefined, envelope)).rejects.toBeInstanceOf(
        BlobIntegrityError,
      )
    }
  })

  it('refuses an envelope wrapped under a key the ring does not hold', async () => {
    const { inner, store } = setup(`a:${KEY_A}`)
    const { key, envelope } = await put(store, randomBytes(100))
    const other = new EncryptedBlobStore({ inner, keyRing: parseKeyRing(`b:${KEY_B}`) })
    const renamed = JSON.stringify({ ...JSON.parse(envelope), kid: 'b' })

    await expect(other.get(key, undefined, envelope)).rejects.toThrow(
      /key "a", not in ENCRYPTION_KEY/,
    )
    await expect(other.get(key, undefined, renamed)).rejects.toBeInstanceOf(BlobIntegrityError)
  })
})

describe('key rotation', () => {
  it('reads old blobs under an extended ring, writes new ones with its last key', async () => {
    const inner = new MemoryBlobStore()
    const before = new EncryptedBlobStore({ inner, keyRing: parseKeyRing(KEY_A) })
    const ringAB = parseKeyRing(`${KEY_A},${KEY_B}`)
    const during = new EncryptedBlobStore({ inner, keyRing: ringAB })
    const after = new EncryptedBlobStore({ inner, keyRing: parseKeyRing(KEY_B) })
    const oldBytes = randomBytes(CHUNK_SIZE + 1)
    const old = await put(before, oldBytes)

    expect(await read(during.get(old.key, undefined, old.envelope))).toEqual(oldBytes)
    const fresh = await put(during, randomBytes(10))
    expect(JSON.parse(fresh.envelope).kid).toBe(ringAB.current.id)
    expect(JSON.parse(old.envelope).kid).not.toBe(ringAB.current.id)

    const rewrapped = rewrapEnvelope(old.envelope, ringAB, old.key)!
    expect(JSON.parse(rewrapped).kid).toBe(ringAB.current.id)
    expect(rewrapEnvelope(rewrapped, ringAB, old.key)).toBeUndefined()
    expect(rewrapEnvelope(fresh.envelope, ringAB, fresh.key)).toBeUndefined()
    expect(await read(after.get(old.key, undefined, rewrapped))).toEqual(oldBytes)
    await expect(after.get(old.key, undefined, old.envelope)).rejects.toBeInstanceOf(
      BlobIntegrityError,
    )
  })

  it('will not rewrap an envelope onto another blob', async () => {
    const { store } = setup()
    const { envelope } = await put(store, randomBytes(10))
    const ring = parseKeyRing(`a:${KEY_A},b:${KEY_B}`)

    expect(() => rewrapEnvelope(envelope, ring, newBlobKey())).toThrow(BlobIntegrityError)
  })
})

function withOverrides(inner: BlobStore, overrides: Partial<BlobStore>): BlobStore {
  return {
    driver: inner.driver,
    put: inner.put.bind(inner),
    get: inner.get.bind(inner),
    head: inner.head.bind(inner),
    delete: inner.delete.bind(inner),
    list: inner.list.bind(inner),
    listPartials: inner.listPartials.bind(inner),
    removePartial: inner.removePartial.bind(inner),
    ping: inner.ping.bind(inner),
    beginAppend: inner.beginAppend.bind(inner),
    appendBlock: inner.appendBlock.bind(inner),
    syncAppend: inner.syncAppend.bind(inner),
    completeAppend: inner.completeAppend.bind(inner),
    abortAppend: inner.abortAppend.bind(inner),
    ...overrides,
  }
}

function splitChunks(stored: Buffer): Buffer[] {
  const chunks: Buffer[] = []
  for (let at = 0; at < stored.length; at += STRIDE) chunks.push(stored.subarray(at, at + STRIDE))
  return chunks
}

function withChunk(chunks: Buffer[], index: number, replacement: Buffer): Buffer[] {
  return chunks.map((chunk, i) => (i === index ? replacement : chunk))
}

function flip(chunk: Buffer, at: number): Buffer {
  const copy = Buffer.from(chunk)
  copy[at]! ^= 0x01
  return copy
}

async function read(stream: Promise<Readable>): Promise<Buffer> {
  return Buffer.concat(await (await stream).toArray())
}

/** What a reader got before the stream failed, and why it failed. */
async function outcome(stream: Promise<Readable>): Promise<{ bytes: Buffer; error: unknown }> {
  const received: Buffer[] = []
  try {
    for await (const chunk of await stream) received.push(chunk)
    return { bytes: Buffer.concat(received), error: undefined }
  } catch (error) {
    return { bytes: Buffer.concat(received), error }
  }
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** A small seeded PRNG, so the random ranges are the same on every run. */
function mulberry32(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}
