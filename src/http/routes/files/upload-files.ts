import { Type } from '@fastify/type-provider-typebox'
import { resolveExpiry } from '../../../files/expiry.js'
import { UnsupportedMediaTypeError } from '../../../files/files-errors.js'
import type { FilesService } from '../../../files/files-service.js'
import { UploadFingerprint } from '../../../idempotency/fingerprints.js'
import type { IdempotencyService } from '../../../idempotency/idempotency-service.js'
import type { Metrics } from '../../../infra/metrics.js'
import { describeRequest, idempotent } from '../../idempotency.js'
import { abandonBody, type UploadLimits, uploadParts } from '../../multipart-parts.js'
import {
  bearerAuth,
  documentOnly,
  IdempotencyKeyHeader,
  idempotencyProblems,
  problems,
  RetryAfter,
} from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { ExpiryQuery, FileObject, fileResponse } from './schemas.js'

// The body as the document gives it, so /docs can send a file. The parts stream through
// uploadParts(); Fastify never sees them as a body to validate.
const UploadForm = Type.Object({
  expires_in: Type.Optional(ExpiresIn),
  expires_at: Type.Optional(
    Type.String({ format: 'date-time', description: 'When the files after it are deleted' }),
  ),
  file: Type.Array(Type.String({ format: 'binary' }), {
    minItems: 1,
    description: 'One part per file, each with a filename',
  }),
})

export function uploadFiles(
  app: App,
  { files, keys }: { files: FilesService; keys: IdempotencyService },
  { metrics, ...limits }: UploadLimits & { metrics: Metrics },
) {
  app.post(
    '/upload',
    {
      onRequest: app.authenticate,
      config: documentOnly({ body: UploadForm }),
      schema: {
        tags: ['files'],
        summary: 'Upload one or more files (multipart/form-data, parts named "file")',
        operationId: 'uploadFiles',
        description:
          'Optional fields `expires_in` (seconds) or `expires_at` (ISO time) apply to the file parts after them; the same may be given in the query.',
        security: bearerAuth,
        consumes: ['multipart/form-data'],
        querystring: Type.Object(ExpiryQuery),
        headers: IdempotencyKeyHeader,
        response: {
          201: Type.Union([FileObject, Type.Object({ items: Type.Array(FileObject) })], {
            description: 'Stored: the file, or `{items}` when the request held several',
          }),
          ...problems({
            ...idempotencyProblems,
            400: '`invalid_upload` (a malformed body, a part over its header limits, a file part without a filename, no part named "file"), `invalid_file_name`, `invalid_expiry`, `invalid_idempotency_key`, or `validation_failed`',
            408: '`upload_timeout`: nothing arrived for UPLOAD_IDLE_TIMEOUT_SECONDS; nothing was kept',
            413: '`payload_too_large` (a file over MAX_UPLOAD_BYTES), `request_too_large` (over MAX_REQUEST_BYTES), `too_many_parts`, or `quota_exceeded`; nothing was kept',
            415: '`unsupported_media_type`: not multipart/form-data',
            503: {
              description:
                '`upload_interrupted`, `storage_unavailable`, or `service_unavailable`; nothing was kept',
              headers: RetryAfter,
            },
            507: '`insufficient_storage`: the store is out of space; nothing was kept',
          }),
        },
      },
    },
    async (req, reply) => {
      if (!req.isMultipart()) throw new UnsupportedMediaTypeError('multipart/form-data')
      const expiry =
        resolveExpiry({ expiresIn: req.query.expires_in, expiresAt: req.query.expires_at }) ?? null
      const content = new UploadFingerprint(describeRequest(req))
      const store = async () => {
        const timer = metrics.uploadDuration.startTimer()
        const parts = content.observe(uploadParts(req, limits))
        const stored = await files.upload(req.user.id, parts, expiry).catch((err) => {
          timer({ outcome: 'failed' })
          throw err
        })
        timer({ outcome: 'stored' })
        metrics.uploadBytes.inc(stored.reduce((sum, file) => sum + file.size, 0))
        const items = stored.map((file) => fileResponse(file, files))
        return {
          status: 201,
          body: items.length === 1 ? items[0]! : { items },
          description: content.describe(stored.map((file) => file.sha256 ?? '')),
        }
      }
      try {
        const { status, body } = await idempotent(req, reply, {
          keys,
          run: store,
          readRetry: () => content.read(uploadParts(req, limits)),
          linkFor: (id) => files.contentUrl({ id }),
        })
        // Only a success is ever kept, and this route's one success is 201.
        return reply.code(status as 201).send(body)
      } catch (err) {
        // The reply's status is not set yet: the error handler sets it after this throws.
        abandonBody(req, reply)
        throw err
      }
    },
  )
}
