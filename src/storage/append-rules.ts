import { type Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { AppendHandle } from './appendable-blob-store.js'
import { isOwnBlobKey } from './blob-key.js'
import { InvalidAppendError } from './storage-errors.js'

/** S3's smallest part but the last; every store holds callers to it so tests on one hold for all. */
export const MIN_BLOCK_SIZE = 5 * 1024 * 1024

export interface BlockRef {
  index: number
  length: number
  final: boolean
}

/**
 * Only keys newBlobKey() makes: listPartials reports only those, and an append the
 * reconciler cannot see would never be cleaned up.
 */
export function assertAppendKey(key: string): void {
  if (!isOwnBlobKey(key)) {
    throw new InvalidAppendError(
      `appends take keys from newBlobKey(): ${JSON.stringify(key.slice(0, 100))}`,
    )
  }
}

export function assertBlockSize(blockSize: number): void {
  if (!Number.isSafeInteger(blockSize) || blockSize < MIN_BLOCK_SIZE) {
    throw new InvalidAppendError(`blockSize must be an integer of at least ${MIN_BLOCK_SIZE}`)
  }
}

/**
 * Only block 0 may be empty (an empty blob): an empty final block after full ones would,
 * encrypted, add a chunk `put` never writes.
 */
export function assertBlock(handle: AppendHandle, block: BlockRef): void {
  const { index, length, final } = block
  const smallest = index === 0 ? 0 : 1
  const valid =
    Number.isSafeInteger(index) &&
    index >= 0 &&
    Number.isSafeInteger(length) &&
    (final ? length >= smallest && length <= handle.blockSize : length === handle.blockSize)
  if (!valid) {
    throw new InvalidAppendError(
      `block ${index} of ${length} bytes (final: ${final}) does not fit blocks of ${handle.blockSize}`,
    )
  }
}

/** The smallest and largest size `blocks` blocks can hold. */
export function assertCompletion(handle: AppendHandle, options: { blocks: number; size: number }) {
  const { blocks, size } = options
  const valid =
    Number.isSafeInteger(blocks) &&
    blocks >= 1 &&
    Number.isSafeInteger(size) &&
    size >= (blocks - 1) * handle.blockSize + (blocks === 1 ? 0 : 1) &&
    size <= blocks * handle.blockSize
  if (!valid) {
    throw new InvalidAppendError(
      `${size} bytes cannot be ${blocks} blocks of at most ${handle.blockSize}`,
    )
  }
}

/** The length block `index` has in a blob of `size` bytes made of blocks of `blockSize`. */
export function blockLength(index: number, size: number, blockSize: number): number {
  return Math.min(blockSize, size - index * blockSize)
}

/**
 * Passes a block's body through, failing it as soon as it runs past `length` and at its end
 * if it fell short, so a wrong body never reaches the store as a whole block.
 */
export function exactLength(length: number): Transform {
  let seen = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length
      if (seen > length) callback(new InvalidAppendError(`block body longer than ${length} bytes`))
      else callback(null, chunk)
    },
    flush(callback: TransformCallback) {
      if (seen < length)
        callback(new InvalidAppendError(`block body of ${seen}, not ${length} bytes`))
      else callback()
    },
  })
}

/** A block's body, whole, once it has proved exactly `length` bytes long. */
export async function readBlock(
  body: Readable,
  length: number,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const chunks: Buffer[] = []
  await pipeline(
    body,
    exactLength(length),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) chunks.push(chunk)
    },
    { signal },
  )
  return Buffer.concat(chunks, length)
}
