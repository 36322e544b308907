import type { BlobStore } from '../storage/blob-store.js'
import type { SweepRepository } from './sweep-repository.js'

const CHECK_BATCH = 500

/**
 * Deletes blobs no row refers to (left by a crash between writing a blob and its row, or
 * by a user deleted with ON DELETE CASCADE). Only blobs older than the grace period are
 * touched: a blob younger than that may belong to an upload whose row is being written.
 */
export async function removeOrphanBlobs(options: {
  store: BlobStore
  sweeps: SweepRepository
  olderThan: Date
  deadline: number
}): Promise<number> {
  const { store, sweeps, olderThan, deadline } = options
  let removed = 0
  let batch: string[] = []
  const flush = async () => {
    const known = await sweeps.knownKeys(batch)
    for (const key of batch) {
      if (known.has(key)) continue
      await store.delete(key)
      removed++
    }
    batch = []
  }
  for await (const blob of store.list()) {
    if (Date.now() > deadline) break
    if (blob.lastModified >= olderThan) continue
    batch.push(blob.key)
    if (batch.length >= CHECK_BATCH) await flush()
  }
  await flush()
  return removed
}
