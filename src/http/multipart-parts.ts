import { PassThrough } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import type { AppError } from '../errors.js'
import {
  InvalidUploadError,
  TooManyPartsError,
  UploadTooLargeError,
} from '../files/files-errors.js'
import type { UploadPart } from '../files/files-service.js'

/**
 * Adapts @fastify/multipart's parts to the files service's UploadPart, turning the parser's
 * errors (limits, truncation, malformed bodies) into our own client errors.
 */
export async function* uploadParts(
  req: FastifyRequest,
  maxFileBytes: number,
): AsyncIterable<UploadPart> {
  const iterator = req.parts()[Symbol.asyncIterator]()
  let next = iterator.next()
  try {
    while (true) {
      const { value: part, done } = await next
      if (done) return
      next = iterator.next()
      if (part.type === 'field') {
        yield { kind: 'field', name: part.fieldname, value: String(part.value) }
        continue
      }
      // A stream of our own, so the service sees our error whatever the parser emits.
      const stream = new PassThrough()
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
  }
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
