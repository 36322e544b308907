import type { IncomingMessage } from 'node:http'
import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppError } from '../errors.js'
import {
  InvalidUploadError,
  TooManyPartsError,
  UploadTimeoutError,
  UploadTooLargeError,
} from '../files/files-errors.js'
import type { UploadPart } from '../files/files-service.js'
import { checkDeclaredLength, guardUploadBody } from './multipart-guard.js'

export interface UploadLimits {
  maxFileBytes: number
  /** The whole request, refused with 413 as soon as it is known to be larger. */
  maxRequestBytes: number
  /** A body that sends nothing this long (while we are reading) fails with 408. */
  idleTimeoutSeconds: number
}

/**
 * Adapts @fastify/multipart's parts to the files service's UploadPart, turning the parser's
 * errors (limits, truncation, malformed bodies, a silent client) into our own client errors.
 */
export async function* uploadParts(
  req: FastifyRequest,
  limits: UploadLimits,
): AsyncIterable<UploadPart> {
  const { maxFileBytes } = limits
  checkDeclaredLength(req.raw, limits.maxRequestBytes)
  const iterator = req.parts()[Symbol.asyncIterator]()
  // The first next() pipes the request into the parser, so the watch starts on a flowing body.
  let next = iterator.next()
  let current: PassThrough | undefined
  const idle = watchIdleBody(req.raw, limits.idleTimeoutSeconds, (err) => current?.destroy(err))
  // Piped before it, the parser has already read each chunk the guard sees.
  const guard = guardUploadBody(req.raw, limits.maxRequestBytes, (err) => current?.destroy(err))
  try {
    while (true) {
      const { value: part, done } = await Promise.race([next, idle.expired, guard.failed])
      guard.check()
      if (done) return
      next = iterator.next()
      if (part.type === 'field') {
        yield { kind: 'field', name: part.fieldname, value: String(part.value) }
        continue
      }
      // A stream of our own, so the service sees our error whatever the parser emits.
      const stream = new PassThrough()
      current = stream
      // The consumer learns of a failure through its pipeline; this listener only keeps a
      // failure that lands between parts from being an uncaught exception.
      stream.on('error', () => {})
      const fail = (err: unknown) => stream.destroy(translate(err, maxFileBytes))
      part.file.on('error', fail)
      // The parser only truncates an oversized file; fail it now rather than store a stub.
      part.file.on('limit', () => fail(new UploadTooLargeError(maxFileBytes)))
      // A body that ends mid-part (truncated, malformed) fails the parser without failing the
      // part's stream, which would then never end: the already-requested next part reports it.
      next.catch(fail)
      part.file.pipe(stream)
      yield {
        kind: 'file',
        fieldName: part.fieldname,
        fileName: part.filename,
        claimedType: part.mimetype,
        stream,
      }
    }
  } catch (err) {
    throw translate(err, maxFileBytes)
  } finally {
    idle.stop()
    guard.stop()
    // Left pending when the upload stops early; the parser rejects it once the request closes.
    next.catch(() => undefined)
  }
}

/**
 * After a failed upload whose body has not all arrived: the parser no longer reads it, so the
 * connection could never serve another request. Discard what still arrives and close once the
 * answer is out, so the client reads the answer rather than a reset.
 */
export function abandonBody(req: FastifyRequest, reply: FastifyReply) {
  if (req.raw.complete) return
  reply.header('connection', 'close')
  req.raw.unpipe()
  req.raw.resume()
}

/**
 * Calls `onIdle` and rejects `expired` once `body` has delivered nothing for `seconds`. The
 * clock stops while the body is paused by backpressure: then a slow store, not the client, is
 * why nothing arrives.
 */
function watchIdleBody(
  body: IncomingMessage,
  seconds: number,
  onIdle: (err: UploadTimeoutError) => void,
) {
  let timer: NodeJS.Timeout | undefined
  let reject: (err: unknown) => void = () => {}
  const expired = new Promise<never>((_, fail) => {
    reject = fail
  })
  // Awaited only while the iterator waits for a part; a timeout mid-part fails that part.
  expired.catch(() => undefined)
  const fire = () => {
    // A pause raced the timer; 'resume' starts the clock again.
    if (body.readableFlowing === false) return
    stop()
    const err = new UploadTimeoutError(seconds)
    onIdle(err)
    reject(err)
  }
  // refresh() also revives a timer that has fired, as one that found the body paused has.
  const arm = () => {
    if (timer) timer.refresh()
    else timer = setTimeout(fire, seconds * 1000)
  }
  const disarm = () => {
    clearTimeout(timer)
    timer = undefined
  }
  const stop = () => {
    disarm()
    body.off('data', arm).off('resume', arm).off('pause', disarm)
    body.off('end', stop).off('close', stop)
  }
  if (!body.readableEnded) {
    body.on('data', arm).on('resume', arm).on('pause', disarm)
    body.once('end', stop).once('close', stop)
    if (body.readableFlowing !== false) arm()
  }
  return { expired, stop }
}

function translate(err: unknown, maxFileBytes: number): Error {
  const code = (err as { code?: string }).code
  if ((err as AppError).status) return err as Error
  if (code === 'FST_REQ_FILE_TOO_LARGE') return new UploadTooLargeError(maxFileBytes)
  if (code === 'FST_PARTS_LIMIT' || code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT') {
    return new TooManyPartsError()
  }
  return new InvalidUploadError(`Malformed multipart body: ${(err as Error).message}`)
}
