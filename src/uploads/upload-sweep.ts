import { randomUUID } from 'node:crypto'
import type { Logger } from '../infra/logger.js'
import type { UploadFinisher } from './upload-finisher.js'
import type { UploadsRepository } from './uploads-repository.js'

// Longer than removing one batch's bytes takes; a sweeper that dies lets it lapse.
const SWEEP_LEASE_MS = 2 * 60_000

/**
 * The sweeper's tus step, before the purge: removes expired uploads (and those of deleted
 * accounts) with their appended blocks (S3 multipart parts included) and carry blobs. Each
 * is claimed with a lease first, so no PATCH writes it meanwhile and two sweepers never
 * take the same one; its files row becomes deleted and the purge that follows removes it.
 * A completed upload's record simply goes: its file lives on at /files.
 */
export class UploadSweep {
  constructor(
    private readonly uploads: UploadsRepository,
    private readonly finisher: UploadFinisher,
    private readonly logger: Logger,
  ) {}

  async run(limit: number): Promise<number> {
    const holder = randomUUID()
    const stale = await this.uploads.claimStale(
      limit,
      holder,
      new Date(Date.now() + SWEEP_LEASE_MS),
    )
    let removed = 0
    for (const upload of stale) {
      try {
        if (upload.file_status !== 'available') {
          await this.finisher.discard(upload, { wait: false })
        }
        await this.uploads.remove(upload.id, holder)
        removed++
      } catch (err) {
        // The claim lapses and a later sweep tries again.
        this.logger.warn({ err, uploadId: upload.id }, 'could not remove an expired upload')
      }
    }
    return removed
  }
}
