import { Type } from '@fastify/type-provider-typebox'
import { resolveExpiry } from '../../../files/expiry.js'
import { UnsupportedMediaTypeError } from '../../../files/files-errors.js'
import type { FilesService } from '../../../files/files-service.js'
import { UploadFingerprint } from '../../../idempotency/fingerprints.js'
import type { IdempotencyService } from '../../../idempotency/idempotency-service.js'
import type { Metrics } from '../../../infra/metrics.js'
import { describeRequest, idempotent } from '../../idempotency.js'
import { abandonBody, type UploadLimits, uploadParts } from '../../multipart-parts.js'
import { bearerAuth, IdempotencyKeyHeader, idempotencyResponses } from '../../openapi.js'
import type { App } from '../../types.js'
import { ExpiryQuery, FileObject, fileResponse } from './schemas.js'

export function uploadFiles(
  app: App,
  { files, keys }: { files: FilesService; keys: IdempotencyService },
  { metrics, ...limits }: UploadLimits & { metrics: Metrics },
) {
  app.post(
    '/upload',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['files'],
        summary: 'Upload one or more files (multipart/form-data, parts named "file")',
        description:
          'Optional fields `expires_in` (seconds) or `expires_at` (ISO time) apply to the file parts after them; the same may be given in the query.',
        security: bearerAuth,
        consumes: ['multipart/form-data'],
        querystring: Type.Object(ExpiryQuery),
        headers: IdempotencyKeyHeader,
        response: {
          201: Type.Union([FileObject, Type.Object({ items: Type.Array(FileObject) })]),
          ...idempotencyResponses,
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
        return reply.code(status).send(body)
      } catch (err) {
        // The reply's status is not set yet: the error handler sets it after this throws.
        abandonBody(req, reply)
        throw err
      }
    },
  )
}
