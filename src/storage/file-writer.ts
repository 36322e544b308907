import type { FileHandle } from 'node:fs/promises'
import { Writable } from 'node:stream'

// How much of an upload may queue while a write is in flight; the queue goes out as one
// writev. At Node's 16 KiB a 1 GiB upload took 3.3–3.9 s of CPU and ran at 0.72–0.79× a bare
// server; at 1 MiB, 2.3–2.5 s and 0.91–0.96× (bench/upload.ts). Costs about this much memory
// per upload.
const WRITE_BUFFER_BYTES = 1024 * 1024

/**
 * Writes into `file` from `start` (its beginning by default); the chunks that queue up during
 * a write go out as one writev. Not a write stream over the bare descriptor: destroyed by a
 * failing body, that closes the descriptor itself, and the FileHandle's own close then closes
 * whatever file another upload opened under the same number meanwhile.
 */
export class FileWriter extends Writable {
  readonly #file: FileHandle
  readonly #start: number
  #written = 0

  constructor(file: FileHandle, start = 0) {
    super({ highWaterMark: WRITE_BUFFER_BYTES })
    this.#file = file
    this.#start = start
  }

  get bytesWritten(): number {
    return this.#written
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback) {
    this.#writeAll([chunk], callback)
  }

  override _writev(chunks: { chunk: Buffer }[], callback: WriteCallback) {
    this.#writeAll(
      chunks.map(({ chunk }) => chunk),
      callback,
    )
  }

  #writeAll(buffers: Buffer[], callback: WriteCallback) {
    writeAllAt(this.#file, buffers, this.#start + this.#written).then((bytes) => {
      this.#written += bytes
      callback()
    }, callback)
  }
}

type WriteCallback = (error?: Error | null) => void

/** Writes all of `buffers` at `position`, resuming after short writes; resolves to the bytes. */
async function writeAllAt(file: FileHandle, buffers: Buffer[], position: number): Promise<number> {
  let pending = buffers
  let written = 0
  while (pending.length > 0) {
    const { bytesWritten } = await file.writev(pending, position + written)
    written += bytesWritten
    pending = withoutLeading(pending, bytesWritten)
  }
  return written
}

/** `buffers` without their first `bytes` bytes (and without empty buffers at the front). */
function withoutLeading(buffers: Buffer[], bytes: number): Buffer[] {
  let index = 0
  let skip = bytes
  while (index < buffers.length && skip >= buffers[index]!.length) {
    skip -= buffers[index]!.length
    index++
  }
  if (index === buffers.length) return []
  return [buffers[index]!.subarray(skip), ...buffers.slice(index + 1)]
}
