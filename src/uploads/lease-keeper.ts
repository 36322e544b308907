import { UploadInterruptedError } from '../files/files-errors.js'
import type { Logger } from '../infra/logger.js'
import type { UploadsRepository } from './uploads-repository.js'

/**
 * A writer's hold on tus uploads: short, so a process killed mid-PATCH leaves a lease that
 * lapses before the client's retries give up, and renewed about four times per lease while
 * the work goes on. Once a renewal finds another holder, `signal` aborts the store calls.
 */
export class LeaseKeeper {
  readonly #controller = new AbortController()
  readonly #timer: NodeJS.Timeout

  constructor(
    private readonly uploads: UploadsRepository,
    readonly ids: string[],
    readonly holder: string,
    private readonly leaseMs: number,
    logger: Logger,
  ) {
    this.#timer = setInterval(() => {
      this.uploads.renew(ids, holder, this.until()).then(
        (held) => {
          if (!held) this.#controller.abort(new UploadInterruptedError())
        },
        (err: unknown) => logger.warn({ err, uploadIds: ids }, 'could not renew a tus lease'),
      )
    }, leaseMs / 4)
    this.#timer.unref()
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  until(): Date {
    return new Date(Date.now() + this.leaseMs)
  }

  /** Stops renewing and gives the uploads back at once. */
  async release(): Promise<void> {
    clearInterval(this.#timer)
    await this.uploads.release(this.ids, this.holder)
  }
}
