import type { BlobStore, PartialWrite } from '../storage/blob-store.js'
import type { SweepRepository } from './sweep-repository.js'

// Keys looked up in one query.
const CHECK_BATCH = 500

export interface ReconcileOptions {
  store: BlobStore
  sweeps: SweepRepository
  /** Only what the store dates before this is touched: younger may belong to a live upload. */
  olderThan: Date
  /** Epoch ms after which a pass stops where it is. */
  deadline: number
}

/**
 * Deletes blobs no row refers to (left by a crash between writing a blob and its row, or
 * by a user deleted with ON DELETE CASCADE). The store lists only keys of Satchel's own
 * shape, so nothing else in the bucket is ever deleted; a key any row names, whatever its
 * status, is kept.
 */
export class OrphanScan {
  // Where the last pass stopped. A pass resumes just past it, so a store too big to list
  // within one sweep is still covered, a slice per sweep; kept in memory, since a restart
  // that starts over costs only a rescan.
  #after?: string

  async run({ store, sweeps, olderThan, deadline }: ReconcileOptions): Promise<number> {
    let removed = 0
    let batch: string[] = []
    let last: string | undefined
    const flush = async () => {
      const known = await sweeps.knownKeys(batch)
      for (const key of batch) {
        if (known.has(key)) continue
        await store.delete(key)
        removed++
      }
      batch = []
      // Only now is every key up to `last` dealt with; a failure before here rescans them.
      if (last !== undefined) this.#after = last
    }
    let reachedEnd = true
    for await (const blob of store.list({ after: this.#after })) {
      // At least one key per pass, so the cursor moves on even when no time is left.
      if (last !== undefined && Date.now() > deadline) {
        reachedEnd = false
        break
      }
      last = blob.key
      if (blob.lastModified < olderThan) batch.push(blob.key)
      if (batch.length >= CHECK_BATCH) await flush()
    }
    await flush()
    if (reachedEnd) this.#after = undefined
    return removed
  }
}

/**
 * Discards partial writes (local temporary files, S3 multipart uploads) that a crash or a
 * forced shutdown cut off, once the store dates them before the grace period. One whose key
 * a row still names is kept: that upload holds a lease, or its row has yet to be reaped, and
 * the partial goes on the first pass after the row does.
 */
export async function removeStalePartials({
  store,
  sweeps,
  olderThan,
  deadline,
}: ReconcileOptions): Promise<number> {
  let removed = 0
  let batch: PartialWrite[] = []
  const flush = async () => {
    const referenced = await sweeps.knownKeys(batch.flatMap((p) => p.key ?? []))
    for (const partial of batch) {
      if (partial.key !== undefined && referenced.has(partial.key)) continue
      await store.removePartial(partial)
      removed++
    }
    batch = []
  }
  for await (const partial of store.listPartials()) {
    if (Date.now() > deadline) break
    if (partial.since >= olderThan) continue
    batch.push(partial)
    if (batch.length >= CHECK_BATCH) await flush()
  }
  await flush()
  return removed
}
