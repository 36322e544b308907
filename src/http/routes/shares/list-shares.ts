import { Type } from '@fastify/type-provider-typebox'
import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import type { App } from '../../types.js'
import { FileNotFound, FileParams } from '../files/schemas.js'
import { ShareObject, shareResponse } from './schemas.js'

export function listShares(app: App, shares: SharesService) {
  app.get(
    '/files/:id/shares',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: 'Every link to a file, the default one included',
        operationId: 'listShares',
        security: bearerAuth,
        params: FileParams,
        response: {
          200: Type.Object({ items: Type.Array(ShareObject) }),
          ...problems({ 404: FileNotFound }),
        },
      },
    },
    async (req) => {
      const items = await shares.list(req.user.id, req.params.id)
      return { items: items.map((share) => shareResponse(share, shares)) }
    },
  )
}
