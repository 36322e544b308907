import { Type } from '@fastify/type-provider-typebox'
import type { IdempotencyService } from '../../../idempotency/idempotency-service.js'
import type { SharesService } from '../../../shares/shares-service.js'
import { idempotent } from '../../idempotency.js'
import { bearerAuth, IdempotencyKeyHeader, idempotencyProblems, problems } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { FileNotFound, FileParams } from '../files/schemas.js'
import { MaxDownloads, ShareObject, SharePassword, shareResponse } from './schemas.js'

export function createShare(
  app: App,
  { shares, keys }: { shares: SharesService; keys: IdempotencyService },
) {
  app.post(
    '/files/:id/shares',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: 'Create a new public link for a file',
        operationId: 'createShare',
        security: bearerAuth,
        params: FileParams,
        headers: IdempotencyKeyHeader,
        body: Type.Object(
          {
            expires_in: Type.Optional(ExpiresIn),
            password: Type.Optional(SharePassword),
            max_downloads: Type.Optional(MaxDownloads),
          },
          { additionalProperties: false },
        ),
        response: {
          201: ShareObject,
          ...problems({
            ...idempotencyProblems,
            400: '`invalid_share_options`, `invalid_idempotency_key`, or `validation_failed`',
            404: FileNotFound,
          }),
        },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {}
      const { status, body: share } = await idempotent(req, reply, {
        keys,
        run: async () => {
          const created = await shares.create(req.user.id, req.params.id, {
            expiresIn: body.expires_in,
            password: body.password,
            maxDownloads: body.max_downloads,
          })
          return { status: 201, body: shareResponse(created, shares) }
        },
        linkFor: (id) => shares.url({ id }),
      })
      // Only a success is ever kept, and this route's one success is 201.
      return reply.code(status as 201).send(share)
    },
  )
}
