import { Transform, type TransformCallback } from 'node:stream'
import { QuotaExceededError, UploadInterruptedError } from './files-errors.js'

// Reserving per chunk would cost a transaction per 64 KiB. Blocks grow with what has passed
// (64 KiB, then doubling up to 8 MiB), so a large upload costs one per 8 MiB and a small one
// holds little more than its size. Near the quota a block may not fit, and the exact bytes
// are asked for instead.
const FIRST_BLOCK_BYTES = 64 * 1024
const MAX_BLOCK_BYTES = 8 * 1024 * 1024
// Once this much is reserved, the next block is asked for while the bytes still have this
// much reserved room ahead of them, so they do not stop for the database: waiting for each
// reservation stalled a 512 MiB upload for ~0.9 s of its ~3 s on a busy host, where a
// reservation's round trips took up to ~0.3 s. Smaller uploads reserve as they need.
const RESERVE_AHEAD_FROM_BYTES = 1024 * 1024
const RUNWAY_BYTES = 2 * MAX_BLOCK_BYTES

type Reservation = 'ok' | 'over' | 'lost'

/**
 * Passes an upload's bytes on only once they are reserved against the owner's quota, so
 * what is stored never exceeds it, however many uploads run at once. Fails the stream with
 * QuotaExceededError as soon as a chunk would pass the quota.
 */
export class QuotaMeter extends Transform {
  private reserved = 0
  private passed = 0
  /** A reservation asked for before the bytes need it, while it is in flight. */
  private ahead: Promise<void> | undefined
  /** Why a reservation asked for ahead failed; the upload fails once its bytes need more. */
  private aheadFailure: unknown
  /** A block did not fit: from then on nothing is asked for before the bytes need it. */
  private nearQuota = false

  constructor(private readonly reserve: (bytes: number) => Promise<Reservation>) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    if (this.passed + chunk.length <= this.reserved) return this.pass(chunk, done)
    this.reserveFor(chunk.length).then(() => this.pass(chunk, done), done)
  }

  // No reservation outlives the stream: once it has ended, the caller may commit or give up.
  override _flush(done: TransformCallback) {
    if (!this.ahead) return done()
    this.ahead.then(() => done())
  }

  private pass(chunk: Buffer, done: TransformCallback) {
    this.passed += chunk.length
    this.reserveAhead()
    done(null, chunk)
  }

  private reserveAhead() {
    if (this.ahead || this.nearQuota || this.aheadFailure !== undefined) return
    if (this.reserved < RESERVE_AHEAD_FROM_BYTES) return
    if (this.reserved - this.passed >= RUNWAY_BYTES) return
    const bytes = this.nextBlock()
    this.ahead = this.reserve(bytes)
      .then((result) => this.count(bytes, result))
      .catch((err: unknown) => {
        this.aheadFailure = err
      })
      .finally(() => {
        this.ahead = undefined
      })
  }

  private async reserveFor(length: number) {
    if (this.ahead) await this.ahead
    if (this.aheadFailure !== undefined) throw this.aheadFailure
    if (this.passed + length <= this.reserved) return
    const needed = this.passed + length - this.reserved
    let bytes = Math.max(needed, this.nextBlock())
    let result = await this.reserve(bytes)
    if (result === 'over' && bytes > needed) {
      this.count(bytes, result)
      bytes = needed
      result = await this.reserve(bytes)
    }
    this.count(bytes, result)
    if (result === 'over') throw new QuotaExceededError()
  }

  private count(bytes: number, result: Reservation) {
    if (result === 'lost') throw new UploadInterruptedError()
    if (result === 'over') this.nearQuota = true
    else this.reserved += bytes
  }

  private nextBlock(): number {
    return Math.min(Math.max(this.reserved, FIRST_BLOCK_BYTES), MAX_BLOCK_BYTES)
  }
}
