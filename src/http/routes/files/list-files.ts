import { type Static, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { parseTypeFilter, TYPE_CATEGORIES } from '../../../files/file-search.js'
import type { FilePage, FilesService } from '../../../files/files-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import { SafeInteger } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { FileObject, listResponseJson } from './schemas.js'

const ListQuery = Type.Object({
  q: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'Case-insensitive substring of the name',
    }),
  ),
  type: Type.Optional(
    Type.String({
      maxLength: 255,
      description: `A MIME type, a prefix such as "image/", or a category: ${TYPE_CATEGORIES.join(', ')}`,
    }),
  ),
  uploaded_after: Type.Optional(Type.String({ format: 'date-time' })),
  uploaded_before: Type.Optional(Type.String({ format: 'date-time' })),
  min_size: Type.Optional(SafeInteger({ minimum: 0, description: 'Bytes' })),
  max_size: Type.Optional(SafeInteger({ minimum: 0, description: 'Bytes' })),
  sort: Type.Union([Type.Literal('created_at'), Type.Literal('name'), Type.Literal('size')], {
    default: 'created_at',
  }),
  order: Type.Union([Type.Literal('asc'), Type.Literal('desc')], { default: 'desc' }),
  limit: SafeInteger({ minimum: 1, maximum: 1000, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 1024 })),
})

export const ListResponse = Type.Object({
  items: Type.Array(FileObject),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
})

const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * What the route remembers of a page it has sent. Only a page sent again keeps its body:
 * young-generation collections keep a WeakMap's values alive whatever their keys, so the
 * JSON of every page sent once, kept here, was copied and promoted to the old generation
 * (bench/api.ts cache misses: twice the bytes promoted, twice the full collections).
 */
interface SentPage {
  urlExpiry: number
  bytes?: Buffer
}

/** GET /files lists and searches; GET /search is the same endpoint under the name people look for. */
export function listFiles(app: App, files: FilesService) {
  // The service hands out the same page object while its cache holds the page, and its
  // signed URLs stay the same until their expiry moves: a page sent again goes out as the
  // bytes of its first resend.
  const sent = new WeakMap<FilePage, SentPage>()
  for (const url of ['/files', '/search']) {
    app.get(
      url,
      {
        onRequest: app.authenticate,
        schema: {
          tags: ['files'],
          summary: 'Your files: filtered, sorted, in pages (keyset cursor)',
          operationId: url === '/files' ? 'listFiles' : 'searchFiles',
          security: bearerAuth,
          querystring: ListQuery,
          response: {
            200: ListResponse,
            ...problems({ 400: '`invalid_cursor`, `invalid_filter`, or `validation_failed`' }),
          },
        },
      },
      (req, reply) => {
        const page = files.list(req.user.id, toListQuery(req.query))
        // A page this process holds is answered at once, without a promise.
        if (!(page instanceof Promise)) return void send(reply, page)
        // Resolving to the reply tells Fastify it is answered (its types expect a payload).
        return page.then((loaded) => send(reply, loaded)) as Promise<never>
      },
    )
  }

  function send(reply: FastifyReply, page: FilePage): FastifyReply {
    const urlExpiry = files.contentUrlExpiry()
    const known = sent.get(page)
    const current = known !== undefined && known.urlExpiry === urlExpiry
    if (current && known.bytes !== undefined) return reply.type(JSON_TYPE).send(known.bytes)
    const json = listResponseJson(page, files.contentUrls(page))
    if (!current) {
      sent.set(page, { urlExpiry })
      // Most pages are sent once: as text (JSON already, which Fastify sends as it is),
      // encoded straight into the socket's write rather than into a buffer first.
      return reply.type(JSON_TYPE).send(json)
    }
    // A page sent again goes out as bytes, encoded once for every later response.
    known.bytes = Buffer.from(json)
    return reply.type(JSON_TYPE).send(known.bytes)
  }
}

function toListQuery(query: Static<typeof ListQuery>) {
  const date = (value?: string) => (value === undefined ? undefined : new Date(value))
  return {
    filters: {
      q: query.q,
      type: query.type === undefined ? undefined : parseTypeFilter(query.type),
      uploadedAfter: date(query.uploaded_after),
      uploadedBefore: date(query.uploaded_before),
      minSize: query.min_size,
      maxSize: query.max_size,
    },
    sort: query.sort,
    order: query.order,
    limit: query.limit,
    cursor: query.cursor,
  }
}
