import type { ServerResponse } from 'node:http'
import { pipeline, type Readable, Transform } from 'node:stream'
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import { parseRange } from '../files/byte-ranges.js'
import { RangeNotSatisfiableError } from '../files/files-errors.js'
import type { FileRecord } from '../files/files-repository.js'
import type { ByteRange } from '../storage/blob-store.js'

/**
 * Charges a body to a budget. Runs once a body of `length` bytes is about to be sent (never
 * for HEAD, 304 or 416) and refuses by throwing; the function it returns runs once, when the
 * response has ended, with the body bytes handed to the socket and whether that was all.
 */
export type ReserveBody = (
  length: number,
) => Promise<(sent: number, complete: boolean) => Promise<void>>

/**
 * Streams a file's bytes with everything a download needs: conditional requests, a single
 * byte range, and headers that keep an uploaded page from ever running as our origin.
 */
export async function sendFile(
  req: FastifyRequest,
  reply: FastifyReply,
  file: FileRecord,
  open: (range?: ByteRange) => Promise<Readable>,
  reserve?: ReserveBody,
) {
  const cached = validators(file)
  if (etagMatches(req.headers['if-none-match'], cached.etag)) {
    return reply.code(304).headers(cached).send()
  }
  const ifRange = req.headers['if-range']
  const range =
    ifRange && ifRange !== cached.etag ? undefined : parseRange(req.headers.range, file.size)
  if (range === 'unsatisfiable') throw new RangeNotSatisfiableError(file.size)

  if (req.method === 'HEAD') return describe(reply, file, range).send()
  if (!reserve) {
    const body = await open(range)
    return describe(reply, file, range).send(body)
  }
  const settle = await reserve(range ? range.end - range.start + 1 : file.size)
  let body: Readable
  try {
    body = await open(range)
  } catch (err) {
    await settle(0, false).catch((e) => logUnsettled(req.log, e))
    throw err
  }
  return describe(reply, file, range).send(metered(body, reply.raw, settle, req.log))
}

/** What a 304 repeats of the 200 it stands for. */
function validators(file: FileRecord) {
  return {
    etag: `"${file.sha256}"`,
    'last-modified': file.updated_at.toUTCString(),
    'cache-control': 'private, no-cache',
  }
}

/**
 * The headers of the file's bytes, set only once the bytes are sure to follow: an error
 * response must not look like the file, nor be saved as it.
 */
function describe(reply: FastifyReply, file: FileRecord, range: ByteRange | undefined) {
  reply.headers({
    ...validators(file),
    'accept-ranges': 'bytes',
    'content-disposition': contentDisposition(file.name),
    'content-security-policy': "sandbox; default-src 'none'",
  })
  reply.type(file.content_type)
  if (!range) return reply.header('content-length', file.size)
  return reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
    .header('content-length', range.end - range.start + 1)
}

/**
 * `body`, counting the bytes handed on to the response. Settles when the response closes,
 * however it ends: complete only if the body ended and the response flushed all of it to
 * the socket. A body that fails before its first byte (an error response) settles with 0.
 */
function metered(
  body: Readable,
  res: ServerResponse,
  settle: (sent: number, complete: boolean) => Promise<void>,
  log: FastifyBaseLogger,
): Readable {
  let sent = 0
  let ended = false
  let finished = false
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      sent += chunk.length
      done(null, chunk)
    },
    flush(done) {
      ended = true
      done()
    },
  })
  // The body's errors reach the meter, which Fastify watches; a response torn down early
  // destroys the meter, and with it the body (releasing a file handle or an S3 socket).
  pipeline(body, meter, () => undefined)
  const end = () => settle(sent, ended && finished).catch((err) => logUnsettled(log, err))
  if (res.destroyed) {
    // The client left while the budget was reserved or the store opened: its 'close' has
    // passed, and no byte will be sent.
    meter.destroy()
    end()
    return meter
  }
  res.once('finish', () => {
    finished = true
  })
  res.once('close', end)
  return meter
}

// The reservation then stays spent: a lost settle can only cost budget, never add to it.
function logUnsettled(log: FastifyBaseLogger, err: unknown) {
  log.warn({ err }, 'download budget not settled')
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false
  return header.split(',').some((tag) => {
    const t = tag.trim()
    return t === '*' || t === etag || t === `W/${etag}`
  })
}

/** RFC 6266: an ASCII fallback for old clients, and the exact name in `filename*`. */
export function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_')
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  )
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`
}
