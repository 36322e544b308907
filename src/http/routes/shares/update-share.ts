import { Type } from '@fastify/type-provider-typebox'
import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import {
  MaxDownloads,
  ShareNotFound,
  ShareObject,
  ShareParams,
  SharePassword,
  shareResponse,
} from './schemas.js'

const orNull = <T extends Parameters<typeof Type.Union>[0][number]>(
  schema: T,
  description: string,
) => Type.Optional(Type.Union([schema, Type.Null()], { description }))

export function updateShare(app: App, shares: SharesService) {
  app.patch(
    '/shares/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: "Change a link's expiry, password or download limit",
        operationId: 'updateShare',
        security: bearerAuth,
        params: ShareParams,
        body: Type.Object(
          {
            expires_in: Type.Optional(ExpiresIn),
            expires_at: orNull(Type.String({ format: 'date-time' }), 'null: never expires'),
            password: orNull(SharePassword, 'null: no password'),
            max_downloads: orNull(MaxDownloads, 'null: no limit'),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: {
          200: ShareObject,
          ...problems({
            400: '`invalid_share_options`, `invalid_expiry`, or `validation_failed`',
            404: ShareNotFound,
          }),
        },
      },
    },
    async (req) => {
      const { expires_in, expires_at, password, max_downloads } = req.body
      const share = await shares.update(req.user.id, req.params.id, {
        expiresIn: expires_in,
        expiresAt: expires_at,
        password,
        maxDownloads: max_downloads,
      })
      return shareResponse(share, shares)
    },
  )
}
