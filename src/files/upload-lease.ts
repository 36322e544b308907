import type { Logger } from '../infra/logger.js'
import type { FilesRepository } from './files-repository.js'

/**
 * The uploader's hold on the pending rows of one request. It is renewed four times per
 * lease while bytes stream, so however long an upload takes the sweeper never reaps it,
 * and once the process dies the rows are reaped one lease later.
 */
export class UploadLease {
  readonly ids: string[] = []
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly files: FilesRepository,
    private readonly leaseMs: number,
    logger: Logger,
  ) {
    this.timer = setInterval(() => {
      this.files.renewLeases(this.ids, this.until()).catch((err: unknown) => {
        logger.warn({ err }, 'could not renew an upload lease')
      })
    }, leaseMs / 4)
    this.timer.unref()
  }

  /** When a lease taken now lapses. */
  until(): Date {
    return new Date(Date.now() + this.leaseMs)
  }

  hold(id: string): void {
    this.ids.push(id)
  }

  release(): void {
    clearInterval(this.timer)
  }
}
