import { Type } from '@fastify/type-provider-typebox'
import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth } from '../../openapi.js'
import type { App } from '../../types.js'
import { FileIdParams, MaxDownloads, ShareObject, shareResponse } from './schemas.js'

export function getDefaultShare(app: App, shares: SharesService) {
  app.get(
    '/share/:file_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: "The file's public link (created on first call); with options, a new link",
        security: bearerAuth,
        params: FileIdParams,
        querystring: Type.Object({
          expires_in: Type.Optional(Type.Integer({ minimum: 1 })),
          max_downloads: Type.Optional(MaxDownloads),
        }),
        response: { 200: ShareObject },
      },
    },
    async (req) => {
      const { expires_in, max_downloads } = req.query
      const share = await shares.getOrCreateDefault(req.user.id, req.params.file_id, {
        expiresIn: expires_in,
        maxDownloads: max_downloads,
      })
      return shareResponse(share, shares)
    },
  )
}
