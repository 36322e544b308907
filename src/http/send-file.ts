import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseRange } from '../files/byte-ranges.js'
import { RangeNotSatisfiableError } from '../files/files-errors.js'
import type { FileRecord } from '../files/files-repository.js'
import type { ByteRange } from '../storage/blob-store.js'

/**
 * Streams a file's bytes with everything a download needs: conditional requests, a single
 * byte range, and headers that keep an uploaded page from ever running as our origin.
 * `beforeBody` runs only when bytes are about to be sent (not for HEAD or 304).
 */
export async function sendFile(
  req: FastifyRequest,
  reply: FastifyReply,
  file: FileRecord,
  open: (range?: ByteRange) => Promise<Readable>,
  beforeBody?: (range?: ByteRange) => Promise<void>,
) {
  const etag = `"${file.sha256}"`
  reply.headers({
    etag,
    'last-modified': file.updated_at.toUTCString(),
    'accept-ranges': 'bytes',
    'cache-control': 'private, no-cache',
    'content-disposition': contentDisposition(file.name),
    'x-content-type-options': 'nosniff',
    'content-security-policy': 'sandbox',
  })
  if (etagMatches(req.headers['if-none-match'], etag)) return reply.code(304).send()

  const ifRange = req.headers['if-range']
  const range = ifRange && ifRange !== etag ? undefined : parseRange(req.headers.range, file.size)
  if (range === 'unsatisfiable') throw new RangeNotSatisfiableError(file.size)
  reply.type(file.content_type)
  if (range) {
    reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${file.size}`)
      .header('content-length', range.end - range.start + 1)
  } else {
    reply.header('content-length', file.size)
  }
  if (req.method === 'HEAD') return reply.send()
  await beforeBody?.(range)
  return reply.send(await open(range))
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
