import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth, noContent, problems } from '../../openapi.js'
import type { App } from '../../types.js'
import { ShareNotFound, ShareParams } from './schemas.js'

export function deleteShare(app: App, shares: SharesService) {
  app.delete(
    '/shares/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: 'Revoke a link at once',
        operationId: 'deleteShare',
        security: bearerAuth,
        response: { ...noContent, ...problems({ 404: ShareNotFound }) },
        params: ShareParams,
      },
    },
    async (req, reply) => {
      await shares.revoke(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
