import { Type } from '@fastify/type-provider-typebox'
import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { FileNotFound, FileParams } from '../files/schemas.js'
import { MaxDownloads, ShareObject, SharePassword, shareResponse } from './schemas.js'

export function createShare(app: App, shares: SharesService) {
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
            400: '`invalid_share_options`, or `validation_failed`',
            404: FileNotFound,
          }),
        },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {}
      const share = await shares.create(req.user.id, req.params.id, {
        expiresIn: body.expires_in,
        password: body.password,
        maxDownloads: body.max_downloads,
      })
      return reply.code(201).send(shareResponse(share, shares))
    },
  )
}
