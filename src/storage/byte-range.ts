import type { ByteRange } from './blob-store.js'

/**
 * Throws a RangeError unless `range` is a well-formed inclusive range. Checked up front
 * because adapters disagree on malformed ones: S3 ignores the header and sends the whole
 * object, the local file stream throws, a buffer slice is silently empty.
 */
export function assertByteRange(range: ByteRange): void {
  const { start, end } = range
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`Invalid byte range ${start}-${end}`)
  }
}
