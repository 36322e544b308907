import type { FileHandle } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { ByteRange } from './blob-store.js'

/**
 * A blob's bytes in pieces that are lent, not given: each is the caller's only until it asks
 * for the next, which may be read into the same memory. For a reader done with every piece at
 * once, as decryption is; fresh buffers would only be garbage for the collector.
 */
export interface LentPieces extends AsyncIterable<Buffer> {
  /** Releases what the pieces are read from; also when the iteration never started. */
  close(): Promise<void>
}

/** A store that can lend its reads (LocalBlobStore). */
export interface LendingStore {
  /** As `get`: rejects with BlobNotFoundError if absent, before any piece is read. */
  lend(key: string, range?: ByteRange): Promise<LentPieces>
}

export function canLend(store: object): store is LendingStore {
  return typeof (store as Partial<LendingStore>).lend === 'function'
}

/** A stream's own chunks, which it never reuses, as LentPieces. */
export function streamPieces(stream: Readable): LentPieces {
  return {
    [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
    close: async () => {
      stream.destroy()
    },
  }
}

/**
 * Read buffers handed back by finished lends for the next ones: a fresh pair per read would be
 * memory the kernel maps in anew every time. Keeps at most `keep`, all of `size` bytes.
 */
export class BufferPool {
  readonly size: number
  readonly #keep: number
  readonly #free: Buffer[] = []

  constructor(options: { size: number; keep: number }) {
    this.size = options.size
    this.#keep = options.keep
  }

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size)
  }

  give(buffer: Buffer) {
    if (this.#free.length < this.#keep) this.#free.push(buffer)
  }
}

/**
 * `range` of `file` (to its end without one), read into two of `pool`'s buffers in turn: the
 * next piece is read while the caller holds this one, so reading and its consumer overlap.
 * The file is closed at the end, on an early return, or by `close`.
 */
export function filePieces(file: FileHandle, pool: BufferPool, range?: ByteRange): LentPieces {
  const end = range?.end ?? Number.POSITIVE_INFINITY
  let position = range?.start ?? 0
  let reading: Promise<Buffer> | undefined
  let closing: Promise<void> | undefined

  const readNext = (buffer: Buffer) => {
    const length = Math.min(pool.size, end - position + 1)
    return file.read(buffer, 0, length, position).then(({ bytesRead }) => {
      position += bytesRead
      return buffer.subarray(0, bytesRead)
    })
  }
  // A read still in flight must land before the descriptor goes, or it could land in a file
  // that reuses the number.
  const close = () => {
    closing ??= (reading ?? Promise.resolve()).catch(() => undefined).then(() => file.close())
    return closing
  }
  return {
    async *[Symbol.asyncIterator]() {
      const buffers = [pool.take(), pool.take()]
      try {
        let turn = 0
        reading = readNext(buffers[turn]!)
        for (;;) {
          const piece = await reading
          if (piece.length === 0) return
          turn ^= 1
          reading = position <= end ? readNext(buffers[turn]!) : undefined
          yield piece
          if (!reading) return
        }
      } finally {
        // A read issued before the caller stopped is waited for (and its failure dropped):
        // only then is no buffer being written, and the caller is done with its piece.
        await reading?.catch(() => undefined)
        await close()
        for (const buffer of buffers) pool.give(buffer)
      }
    },
    close,
  }
}
