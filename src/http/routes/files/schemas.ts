import { Type } from '@fastify/type-provider-typebox'
import type { FileRecord } from '../../../files/files-repository.js'
import type { FilePage, FilesService } from '../../../files/files-service.js'
import { problems, RetryAfter } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'

export const FileObject = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  size: Type.Integer(),
  content_type: Type.String(),
  sha256: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  url: Type.String({ description: 'A signed download URL that needs no Authorization header' }),
})

export const FileParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const FileNotFound = "`file_not_found`: no such file of yours (another user's too)"

/** What a 304 repeats of the 200 it stands for (see sendFile). */
const VALIDATORS = {
  etag: Type.String({ description: "The file's sha256, quoted" }),
  'last-modified': Type.String({ description: 'When the file last changed (HTTP date)' }),
  'cache-control': Type.Literal('private, no-cache'),
}

const BYTES_HEADERS = {
  ...VALIDATORS,
  'content-length': Type.Integer({ description: 'Bytes in this response' }),
  'accept-ranges': Type.Literal('bytes'),
  'content-disposition': Type.String({
    description: 'attachment, an ASCII filename and the exact name in filename* (RFC 6266)',
  }),
  'content-security-policy': Type.Literal("sandbox; default-src 'none'"),
}

// Typed unknown: the handler sends a stream, never a string.
const FileBytes = { schema: Type.Unsafe<unknown>({ type: 'string', format: 'binary' }) }

/** The answers of every download (sendFile): whole, ranged, not modified, bad range. */
export const downloadResponses = {
  200: {
    description: "The file's bytes, with the Content-Type it was stored with",
    headers: BYTES_HEADERS,
    content: { '*/*': FileBytes },
  },
  206: {
    description: 'The one byte range asked for with Range (several ranges get the whole file)',
    headers: {
      ...BYTES_HEADERS,
      'content-range': Type.String({ description: '`bytes <first>-<last>/<size>`' }),
    },
    content: { '*/*': FileBytes },
  },
  304: Type.Null({
    description: 'If-None-Match names the current ETag: the copy you have is current',
    headers: VALIDATORS,
  }),
  ...problems({
    416: {
      description: '`range_not_satisfiable`: the Range starts past the end of the file',
      headers: { 'content-range': Type.String({ description: '`bytes */<size>`' }) },
    },
    503: {
      description:
        '`storage_unavailable`: the file store failed or timed out; or `service_unavailable`',
      headers: RetryAfter,
    },
  }),
}

export const ExpiryQuery = {
  expires_in: Type.Optional(ExpiresIn),
  expires_at: Type.Optional(
    Type.String({ format: 'date-time', description: 'When the file is deleted' }),
  ),
}

export function fileResponse(file: FileRecord, files: FilesService) {
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    content_type: file.content_type,
    sha256: file.sha256 ?? '',
    created_at: file.created_at.toISOString(),
    updated_at: file.updated_at.toISOString(),
    expires_at: file.expires_at?.toISOString() ?? null,
    url: files.contentUrl(file),
  }
}

const quoted = (url: string) => `"${url}"`

/**
 * The body of a list page (ListResponse): its files' JSON objects, as the database wrote them
 * up to their URLs (ListedPage), each completed with its signed URL. The same text as
 * JSON.stringify of the objects, without building them; joined once, into one flat string,
 * rather than concatenated piece by piece into a tree that encoding it must flatten first.
 */
export function listResponseJson(page: FilePage, urls: readonly string[]): string {
  // The URLs differ in ids, expiries and tags, which never need escaping: only the base URL
  // they share could, so the first one tells for all.
  const first = urls[0] ?? ''
  const quote = JSON.stringify(first) === quoted(first) ? quoted : JSON.stringify
  const parts = ['{"items":[']
  page.items.forEach((file, i) => {
    parts.push(i === 0 ? file : `,${file}`, quote(urls[i]!), '}')
  })
  parts.push('],"next_cursor":', JSON.stringify(page.nextCursor), '}')
  return parts.join('')
}
