import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth, noContent } from '../../openapi.js'
import type { App } from '../../types.js'
import { ShareParams } from './schemas.js'

export function deleteShare(app: App, shares: SharesService) {
  app.delete(
    '/shares/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: 'Revoke a link at once',
        security: bearerAuth,
        response: noContent,
        params: ShareParams,
      },
    },
    async (req, reply) => {
      await shares.revoke(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
