import type { IncomingMessage } from 'node:http'
import type { AppError } from '../errors.js'
import { InvalidUploadError, RequestTooLargeError } from '../files/files-errors.js'
import { freshBuffersAllocated } from '../infra/fresh-buffers.js'

/** Header lines a part may have (Content-Disposition and Content-Type among them). */
export const MAX_PART_HEADER_LINES = 20
/** Bytes of one part's header block, from its first header to its last. */
export const MAX_PART_HEADER_BYTES = 8 * 1024

const CR = 0x0d
const LF = 0x0a
const DASH = 0x2d
// "\r\n\r\n" as the last four bytes seen, read as one big-endian number.
const BLANK_LINE = 0x0d0a0d0a

/**
 * Finds each part's header block in a multipart body as it streams and refuses one over the
 * limits. The parser (busboy) keeps the first 20 header lines and the first 80 KiB of a part's
 * headers and silently drops the rest, so a part with thousands of header lines, or one line
 * of a megabyte, would otherwise be taken. Body bytes are only searched for the delimiter
 * (Buffer#indexOf); header bytes, a few KiB per part at most, are read one by one.
 */
export class PartHeaderScanner {
  private readonly delimiter: Buffer
  private state: 'body' | 'delimited' | 'headers' | 'epilogue' = 'body'
  /** The last bytes of body seen, for a delimiter split between chunks. */
  private tail: Buffer
  private dashes = 0
  private headerBytes = 0
  private lineBreaks = 0
  private last4 = 0

  constructor(boundary: string) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1')
    // The first delimiter may open the body with no line break before it.
    this.tail = Buffer.from('\r\n')
  }

  /** Throws InvalidUploadError once a part's headers are over a limit. */
  push(chunk: Buffer) {
    let at = 0
    while (at < chunk.length && this.state !== 'epilogue') {
      if (this.state === 'body') at = this.skipBody(chunk, at)
      else if (this.state === 'delimited') at = this.afterDelimiter(chunk, at)
      else at = this.readHeaders(chunk, at)
    }
  }

  /** Returns where the bytes after the next delimiter start, or the chunk's end. */
  private skipBody(chunk: Buffer, from: number): number {
    const keep = this.delimiter.length - 1
    const rest = chunk.subarray(from)
    // A delimiter that starts in the tail ends within the first `keep` bytes of the rest.
    const seam = Buffer.concat([this.tail, rest.subarray(0, keep)])
    const inSeam = seam.indexOf(this.delimiter)
    const inRest = inSeam === -1 ? rest.indexOf(this.delimiter) : -1
    if (inSeam === -1 && inRest === -1) {
      this.tail = Buffer.concat([this.tail, rest.subarray(-keep)]).subarray(-keep)
      return chunk.length
    }
    this.state = 'delimited'
    this.dashes = 0
    const end = inSeam !== -1 ? inSeam - this.tail.length : inRest
    return from + end + this.delimiter.length
  }

  /** "--" right after a delimiter closes the body, and what follows is ignored. */
  private afterDelimiter(chunk: Buffer, from: number): number {
    let at = from
    while (at < chunk.length && this.dashes < 2 && chunk[at] === DASH) {
      this.dashes++
      at++
    }
    if (this.dashes === 2) this.state = 'epilogue'
    else if (at < chunk.length) {
      this.state = 'headers'
      this.headerBytes = this.dashes
      this.lineBreaks = 0
      this.last4 = 0
    }
    return at
  }

  private readHeaders(chunk: Buffer, from: number): number {
    for (let i = from; i < chunk.length; i++) {
      const byte = chunk[i]!
      if (byte === LF && (this.last4 & 0xff) === CR) this.lineBreaks++
      this.headerBytes++
      this.last4 = ((this.last4 << 8) | byte) >>> 0
      if (this.last4 === BLANK_LINE) {
        this.state = 'body'
        this.tail = Buffer.alloc(0)
        return i + 1
      }
      // The block is "\r\n" + headers + "\r\n\r\n". Past the leading line break, each one
      // ends a header; and at most 3 bytes of what is read so far can still be framing.
      if (this.lineBreaks - 1 > MAX_PART_HEADER_LINES) {
        throw new InvalidUploadError(`A part may have at most ${MAX_PART_HEADER_LINES} headers`)
      }
      if (this.headerBytes - 2 - 3 > MAX_PART_HEADER_BYTES) {
        throw new InvalidUploadError(
          `A part's headers may be at most ${MAX_PART_HEADER_BYTES} bytes`,
        )
      }
    }
    return chunk.length
  }
}

/**
 * Watches an upload's body as it streams, beside the parser: the request's total size, and
 * each part's headers; and it counts the body's buffers (infra/fresh-buffers.ts). The first
 * violation is passed to `onViolation` (to fail the part being stored), rejects `failed` (for
 * a reader waiting on the next part) and is thrown by `check()` (for a reader whose wait
 * ended on the very chunk that broke the limit).
 */
export function guardUploadBody(
  body: IncomingMessage,
  maxRequestBytes: number,
  onViolation: (err: AppError) => void,
) {
  const boundary = boundaryOf(body.headers['content-type'])
  const scanner = boundary ? new PartHeaderScanner(boundary) : undefined
  let received = 0
  let violation: AppError | undefined
  let reject: (err: AppError) => void = () => {}
  const failed = new Promise<never>((_, fail) => {
    reject = fail
  })
  failed.catch(() => undefined)
  const onData = (chunk: Buffer) => {
    received += chunk.length
    freshBuffersAllocated(chunk.length)
    try {
      if (received > maxRequestBytes) throw new RequestTooLargeError(maxRequestBytes)
      scanner?.push(chunk)
    } catch (err) {
      violation = err as AppError
      stop()
      onViolation(violation)
      reject(violation)
    }
  }
  const stop = () => void body.off('data', onData)
  body.on('data', onData)
  return {
    failed,
    stop,
    check() {
      if (violation) throw violation
    },
  }
}

/** A body whose declared length is already over the limit is refused before it is read. */
export function checkDeclaredLength(body: IncomingMessage, maxRequestBytes: number) {
  const declared = Number(body.headers['content-length'])
  if (declared > maxRequestBytes) throw new RequestTooLargeError(maxRequestBytes)
}

function boundaryOf(contentType: string | undefined): string | undefined {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '')
  return match?.[1] ?? match?.[2]
}
