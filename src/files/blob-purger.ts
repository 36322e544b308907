import { DeadlineExceededError, withDeadline } from '../infra/deadline.js'
import type { BlobStore } from '../storage/blob-store.js'
import type { FilesRepository } from './files-repository.js'

export interface PurgeOptions {
  /** How long a claim keeps other workers off a row: longer than a batch of deletes takes. */
  leaseMs: number
  /** How long one blob delete may take before the store counts as hung. */
  deleteTimeoutMs: number
}

export interface PurgeResult {
  purged: string[]
  failed: number
}

/**
 * Removes the blobs, then the rows, of files marked deleted. A row is claimed with a lease
 * and the claim committed before the store is called, so no transaction (and no pooled
 * connection) waits on the store, and two workers never remove the same file. A crash after
 * the claim leaves the row deleted; once the lease lapses, the next sweep retries it.
 */
export class BlobPurger {
  constructor(
    private readonly files: FilesRepository,
    private readonly store: BlobStore,
    private readonly options: PurgeOptions,
  ) {}

  async purge(scope: { ids?: string[]; limit: number }): Promise<PurgeResult> {
    const { leaseMs, deleteTimeoutMs } = this.options
    const claimed = await this.files.claimDeleted(scope, new Date(Date.now() + leaseMs))
    const purged: string[] = []
    const failed: string[] = []
    let hung = false
    for (const row of claimed) {
      // A store that let one delete hang will hang the next: hand the rest back at once.
      if (hung) {
        failed.push(row.id)
        continue
      }
      try {
        await withDeadline(this.store.delete(row.storage_key), deleteTimeoutMs, 'blob delete')
        purged.push(row.id)
      } catch (err) {
        failed.push(row.id)
        hung = err instanceof DeadlineExceededError
      }
    }
    await this.files.removeDeleted(purged)
    // Retried by the next sweep rather than after the lease.
    await this.files.releaseClaims(failed)
    return { purged, failed: failed.length }
  }
}
