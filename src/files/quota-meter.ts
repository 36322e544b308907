import { Transform, type TransformCallback } from 'node:stream'
import { QuotaExceededError, UploadInterruptedError } from './files-errors.js'

// Reserving per chunk would cost a transaction per 64 KiB. Blocks grow with what has passed
// (64 KiB, then doubling up to 8 MiB), so a large upload costs one per 8 MiB and a small one
// holds little more than its size. Near the quota a block may not fit, and the exact bytes
// are asked for instead.
const FIRST_BLOCK_BYTES = 64 * 1024
const MAX_BLOCK_BYTES = 8 * 1024 * 1024

/**
 * Passes an upload's bytes on only once they are reserved against the owner's quota, so
 * what is stored never exceeds it, however many uploads run at once. Fails the stream with
 * QuotaExceededError as soon as a chunk would pass the quota.
 */
export class QuotaMeter extends Transform {
  private reserved = 0
  private passed = 0

  constructor(private readonly reserve: (bytes: number) => Promise<'ok' | 'over' | 'lost'>) {
    super()
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
    const needed = this.passed + chunk.length - this.reserved
    if (needed <= 0) {
      this.passed += chunk.length
      return done(null, chunk)
    }
    this.reserveAtLeast(needed).then(() => {
      this.passed += chunk.length
      done(null, chunk)
    }, done)
  }

  private async reserveAtLeast(needed: number) {
    const block = Math.min(Math.max(this.reserved, FIRST_BLOCK_BYTES), MAX_BLOCK_BYTES)
    let bytes = Math.max(needed, block)
    let result = await this.reserve(bytes)
    if (result === 'over' && bytes > needed) {
      bytes = needed
      result = await this.reserve(bytes)
    }
    if (result === 'over') throw new QuotaExceededError()
    if (result === 'lost') throw new UploadInterruptedError()
    this.reserved += bytes
  }
}
