import { Type } from '@fastify/type-provider-typebox'
import type { IdempotencyService } from '../../../idempotency/idempotency-service.js'
import type { SharesService } from '../../../shares/shares-service.js'
import { idempotent } from '../../idempotency.js'
import { bearerAuth, IdempotencyKeyHeader, idempotencyResponses } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { FileParams } from '../files/schemas.js'
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
        response: { 201: ShareObject, ...idempotencyResponses },
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
      return reply.code(status).send(share)
    },
  )
}
