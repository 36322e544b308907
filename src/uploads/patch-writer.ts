import { createHash, type Hash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { AppendHandle } from '../storage/appendable-blob-store.js'
import { newBlobKey } from '../storage/blob-key.js'
import type { BlobStore } from '../storage/blob-store.js'
import { BlockPool } from './block-pool.js'
import type { Checksum } from './tus-protocol.js'
import { ChecksumMismatchError, UploadLengthExceededError } from './uploads-errors.js'

export interface CarryBlob {
  key: string
  envelope: string | null
}

export interface PatchPlan {
  store: BlobStore
  handle: AppendHandle
  /** The row's offset when the PATCH began. */
  offset: number
  length: number | null
  /** The carry's bytes: from the end of the last block written up to `offset`. */
  carry: Buffer
  carryKey: string | null
  checksum?: Checksum
  /** The whole-file hash of the first `offset` bytes, when this process has it. */
  hash?: Hash
  signal: AbortSignal
  /** Records a new offset and carry in the row; throws if the lease was lost. */
  advance(step: { from: number; to: number; carry: CarryBlob | null }): Promise<void>
  /** Runs before bytes up to `end` are taken in: the limits of a deferred length. */
  admit(end: number): Promise<void>
  /** A carry blob the row no longer names; its removal may fail (the orphan scan finishes). */
  dropCarry(key: string): Promise<void>
}

export interface PatchOutcome {
  offset: number
  /** The final block is written: the upload is ready to complete. */
  complete: boolean
  /** The whole-file hash up to `offset`, when every byte of it passed through this process. */
  hash?: Hash
}

// Blocks are written unsynced and the offset recorded (one sync, one UPDATE) once this much
// or this long has gone by, and at the end of the PATCH: a sync and a round trip per 8 MiB
// block cost more than the bytes. A client cut off loses at most this much to resend.
const RECORD_EVERY_BYTES = 64 * 1024 * 1024
const RECORD_EVERY_MS = 1000

const blocks = new BlockPool(2)

/**
 * Writes one PATCH body into the upload's append, a block at a time: at most two blocks are
 * held in memory, and a full block is written only once a byte past it arrives, so
 * the block that reaches Upload-Length is always the final one. What does not fill a block
 * becomes the new carry. Without a checksum, the offset moves every RECORD_EVERY_BYTES or
 * RECORD_EVERY_MS, and what arrived before the client vanished is kept; with one, it moves
 * once, after the body verified, and blocks written meanwhile stay past the offset, to be
 * replaced. The offset moves only after a sync of the blocks below it: an offset a client
 * hears is always durable.
 */
export async function writePatch(plan: PatchPlan, body: AsyncIterable<Buffer>) {
  const { store, handle, checksum, signal } = plan
  const blockSize = handle.blockSize
  let start = plan.offset - plan.carry.length
  // Two block buffers, reused: one fills from the body while the other is written (waiting
  // on each write stalled the body). Copying costs less than what it saves: a fresh buffer
  // per block, or the body's chunks held until their block is written, outlive the young
  // generation and keep the garbage collector busy.
  let block: Buffer = blocks.take(blockSize)
  let spare: Buffer | undefined
  let writing: Promise<void> | undefined
  // Sticky: once a block failed, nothing at or past it may be recorded.
  let writeFailure: { error: unknown } | undefined
  let filled = plan.carry.copy(block)
  let recorded = plan.offset
  let recordedAt = performance.now()
  let unsynced = false
  // Blocks written are synced in the background too, one sync at a time, so the sync that
  // records them finds little left to flush: the client waits on that one, while the disk
  // would idle as the body arrives. A failure here is the recording sync's to report.
  let flushing: Promise<void> | undefined
  let staleCarry = plan.carryKey
  let received = 0
  const bodyHash = checksum ? createHash(checksum.algorithm) : undefined
  let succeeded = false

  const settle = async () => {
    const pending = writing
    writing = undefined
    await pending?.catch((error: unknown) => {
      writeFailure ??= { error }
    })
    if (writeFailure) throw writeFailure.error
  }
  const record = async (to: number, carry: CarryBlob | null) => {
    await settle()
    if (unsynced) await store.syncAppend(handle)
    unsynced = false
    await plan.advance({ from: recorded, to, carry })
    recorded = to
    recordedAt = performance.now()
    if (staleCarry !== null && staleCarry !== carry?.key) {
      await plan.dropCarry(staleCarry)
      staleCarry = null
    }
  }
  const writeBlock = async (final: boolean) => {
    await settle()
    if (unsynced) {
      flushing ??= store
        .syncAppend(handle)
        .catch(() => undefined)
        .finally(() => {
          flushing = undefined
        })
    }
    const index = start / blockSize
    const bytes = Readable.from([block.subarray(0, filled)])
    writing = store.appendBlock(handle, { index, length: filled, final }, bytes, {
      signal,
      sync: false,
    })
    ;[block, spare] = [spare ?? blocks.take(blockSize), block]
    unsynced = true
    start += filled
    filled = 0
    const due =
      start - recorded >= RECORD_EVERY_BYTES || performance.now() - recordedAt >= RECORD_EVERY_MS
    if (!checksum && due) await record(start, null)
  }

  try {
    let failure: unknown
    try {
      for await (const chunk of body) {
        const end = plan.offset + received + chunk.length
        if (plan.length !== null && end > plan.length)
          throw new UploadLengthExceededError(plan.length)
        if (plan.length === null) await plan.admit(end)
        for (let at = 0; at < chunk.length; ) {
          if (filled === blockSize) await writeBlock(false)
          const copied = chunk.copy(block, filled, at)
          filled += copied
          at += copied
        }
        received += chunk.length
        plan.hash?.update(chunk)
        bodyHash?.update(chunk)
      }
    } catch (err) {
      failure = err
    }
    // A body that cannot be verified is not kept, nor one that does not match.
    if (failure && checksum) throw failure
    if (bodyHash && checksum && !bodyHash.digest().equals(checksum.digest)) {
      throw new ChecksumMismatchError()
    }
    const end = start + filled
    if (!failure && plan.length !== null && end === plan.length) {
      await writeBlock(true)
      if (recorded < end) await record(end, null)
      succeeded = true
      return { offset: end, complete: true, hash: plan.hash } satisfies PatchOutcome
    }
    if (end > recorded) {
      // A full block with more to come can go now; with a deferred length it might turn out
      // to be the final one, which only a carry can still become.
      if (filled === blockSize && plan.length !== null) await writeBlock(false)
      if (filled > 0) {
        const key = newBlobKey()
        const bytes = Readable.from([block.subarray(0, filled)])
        const { envelope } = await store.put(key, bytes, { signal })
        const carry = { key, envelope: envelope ?? null }
        await record(end, carry).catch(async (err: unknown) => {
          await plan.dropCarry(key)
          throw err
        })
      } else if (end > recorded) {
        await record(end, null)
      }
    }
    if (failure) throw failure
    const whole = recorded === plan.offset + received
    succeeded = true
    return { offset: recorded, complete: false, hash: whole ? plan.hash : undefined }
  } finally {
    // A block still being written when the PATCH ends would race the next PATCH's write of it.
    await writing?.catch(() => {
      succeeded = false
    })
    await flushing
    // After a failure a write may still be reading its block: those blocks are left to GC.
    if (succeeded) {
      blocks.give(block)
      if (spare) blocks.give(spare)
    }
  }
}
