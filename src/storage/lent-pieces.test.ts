import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BufferPool, filePieces } from './lent-pieces.js'

const pool = (size: number) => new BufferPool({ size, keep: 2 })

describe('filePieces', () => {
  const bytes = randomBytes(10_000)
  let dir: string
  let path: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'satchel-lent-'))
    path = join(dir, 'blob')
    await writeFile(path, bytes)
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  /** Each piece copied out, and the memory it was lent in. */
  async function collect(pieces: AsyncIterable<Buffer>) {
    const copies: Buffer[] = []
    const memory: ArrayBufferLike[] = []
    for await (const piece of pieces) {
      copies.push(Buffer.from(piece))
      memory.push(piece.buffer)
    }
    return { bytes: Buffer.concat(copies), sizes: copies.map((c) => c.length), memory }
  }

  it('reads a range in pieces lent from two buffers taken in turn', async () => {
    const file = await open(path)

    const {
      bytes: read,
      sizes,
      memory,
    } = await collect(filePieces(file, pool(1000), { start: 500, end: 4499 }))

    expect(read).toEqual(bytes.subarray(500, 4500))
    expect(sizes).toEqual([1000, 1000, 1000, 1000])
    expect(new Set(memory).size).toBe(2)
    expect(memory[2]).toBe(memory[0])
    expect(memory[3]).toBe(memory[1])
    expect(file.fd).toBe(-1)
  })

  it('reads to the end of the file without a range, or past its end with one', async () => {
    const whole = await collect(filePieces(await open(path), pool(4096)))
    const past = await collect(
      filePieces(await open(path), pool(4096), { start: 9000, end: 20_000 }),
    )

    expect(whole.bytes).toEqual(bytes)
    expect(past.bytes).toEqual(bytes.subarray(9000))
  })

  it("hands a finished read's buffers on to the next read", async () => {
    const shared = pool(1000)
    const first = await collect(filePieces(await open(path), shared, { start: 0, end: 2999 }))
    const second = await collect(filePieces(await open(path), shared, { start: 0, end: 2999 }))

    expect(new Set([...first.memory, ...second.memory]).size).toBe(2)
    expect(second.bytes).toEqual(bytes.subarray(0, 3000))
  })

  it('closes the file when the reader stops early or never starts', async () => {
    const stopped = await open(path)
    for await (const _ of filePieces(stopped, pool(1000))) break
    const unread = await open(path)
    await filePieces(unread, pool(1000)).close()

    expect([stopped.fd, unread.fd]).toEqual([-1, -1])
  })
})
