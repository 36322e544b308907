import type { BlobPurger } from '../files/blob-purger.js'
import { KEY_LIFETIME_MS } from '../idempotency/idempotency-service.js'
import type { Logger } from '../infra/logger.js'
import type { SharesRepository } from '../shares/shares-repository.js'
import type { BlobStore } from '../storage/blob-store.js'
import { OrphanScan, removeStalePartials } from './reconciler.js'
import type { MarkedFile, SweepRepository } from './sweep-repository.js'

export interface SweepCounts {
  expiredFiles: number
  abandonedUploads: number
  expiredTusUploads: number
  purgedFiles: number
  failedBlobDeletes: number
  expiredShares: number
  expiredIdempotencyKeys: number
  orphanBlobs: number
  stalePartials: number
  removedAccounts: number
}

export interface SweeperDeps {
  sweeps: SweepRepository
  purger: BlobPurger
  shares: SharesRepository
  store: BlobStore
  logger: Logger
  batchSize: number
  maxSweepSeconds: number
  uploadGraceSeconds: number
  /** Called with the files a batch expired, once they are hidden (cache, notifications). */
  onFilesExpired: (files: MarkedFile[]) => Promise<void>
  /**
   * Removes up to `limit` deleted accounts whose files are gone; returns how many. Runs after
   * the purge, so an account deleted before a sweep leaves nothing once that sweep is done.
   */
  finishClosedAccounts: (limit: number) => Promise<number>
  /**
   * Removes up to `limit` expired tus uploads (rows, appended blocks, carry blobs); returns
   * how many. Runs before the purge, which then removes their files rows.
   */
  sweepTusUploads: (limit: number) => Promise<number>
}

// Listing a whole store is costly (S3 bills per LIST): look for orphans once an hour-ish.
const ORPHAN_SCAN_EVERY_N_SWEEPS = 60

const zero = (): SweepCounts => ({
  expiredFiles: 0,
  abandonedUploads: 0,
  expiredTusUploads: 0,
  purgedFiles: 0,
  failedBlobDeletes: 0,
  expiredShares: 0,
  expiredIdempotencyKeys: 0,
  orphanBlobs: 0,
  stalePartials: 0,
  removedAccounts: 0,
})

/**
 * The background worker every instance runs. Each step is idempotent and claims its rows
 * with SKIP LOCKED, so a crash anywhere converges on the next sweep and several instances
 * sweeping at once never delete a file twice. Order per file: hide it (commit), claim it
 * with a lease (commit), delete its blob with no transaction open, delete its row.
 */
export class Sweeper {
  readonly totals = zero()
  private timer?: NodeJS.Timeout
  private running?: Promise<SweepCounts>
  private stopped = false
  private sweepsDone = 0
  private readonly orphanScan = new OrphanScan()

  constructor(private readonly deps: SweeperDeps) {}

  /** Sweeps now, then every `intervalSeconds`, until stop(). */
  start(intervalSeconds: number): void {
    const tick = async () => {
      await this.sweep({ orphans: this.sweepsDone % ORPHAN_SCAN_EVERY_N_SWEEPS === 0 }).catch(
        (err) => this.deps.logger.error({ err }, 'sweep failed'),
      )
      if (!this.stopped) this.timer = setTimeout(tick, intervalSeconds * 1000)
    }
    void tick()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running?.catch(() => undefined)
  }

  /** One sweep, bounded by batch size and time; concurrent calls share the running sweep. */
  sweep(options: { orphans?: boolean } = {}): Promise<SweepCounts> {
    this.running ??= this.run(options.orphans ?? true).finally(() => {
      this.running = undefined
      this.sweepsDone++
    })
    return this.running
  }

  private async run(orphans: boolean): Promise<SweepCounts> {
    const { sweeps, purger, shares, store, batchSize, logger } = this.deps
    const started = Date.now()
    const deadline = started + this.deps.maxSweepSeconds * 1000
    const graceCutoff = new Date(started - this.deps.uploadGraceSeconds * 1000)
    const counts = zero()
    // Each step runs batch after batch until it runs dry, the time is up, or we are stopping.
    const drain = async (step: () => Promise<number>) => {
      for (let n = batchSize; n >= batchSize && !this.stopped && Date.now() < deadline; )
        n = await step()
    }

    await drain(async () => {
      const expired = await sweeps.markExpired(batchSize)
      if (expired.length > 0) await this.deps.onFilesExpired(expired)
      counts.expiredFiles += expired.length
      return expired.length
    })
    await drain(async () => {
      const abandoned = await sweeps.markAbandoned(batchSize)
      counts.abandonedUploads += abandoned.length
      return abandoned.length
    })
    await drain(async () => {
      const n = await this.deps.sweepTusUploads(batchSize)
      counts.expiredTusUploads += n
      return n
    })
    await drain(async () => {
      const { purged, failed } = await purger.purge({ limit: batchSize })
      counts.purgedFiles += purged.length
      counts.failedBlobDeletes += failed
      // Failed rows stay claimable; stop this step rather than spin on them until the deadline.
      return failed > 0 ? 0 : purged.length
    })
    await drain(async () => {
      const n = await this.deps.finishClosedAccounts(batchSize)
      counts.removedAccounts += n
      return n
    })
    await drain(async () => {
      const n = await shares.deleteExpired(batchSize)
      counts.expiredShares += n
      return n
    })
    const forgetKeysBefore = new Date(started - KEY_LIFETIME_MS)
    await drain(async () => {
      const n = await sweeps.deleteIdempotencyKeys(forgetKeysBefore, batchSize)
      counts.expiredIdempotencyKeys += n
      return n
    })
    if (orphans && !this.stopped) {
      const reconcile = { store, sweeps, olderThan: graceCutoff, deadline }
      counts.stalePartials = await removeStalePartials(reconcile)
      counts.orphanBlobs = await this.orphanScan.run(reconcile)
    }

    for (const key of Object.keys(counts) as (keyof SweepCounts)[]) this.totals[key] += counts[key]
    logger.info({ sweep: counts, durationMs: Date.now() - started }, 'sweep finished')
    return counts
  }
}
