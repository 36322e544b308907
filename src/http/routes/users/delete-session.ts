import type { AccountService } from '../../../users/account-service.js'
import { bearerAuth, noContent } from '../../openapi.js'
import type { App } from '../../types.js'
import { SessionParams } from './schemas.js'

export function deleteSession(app: App, account: AccountService) {
  app.delete(
    '/sessions/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['accounts'],
        summary: 'End one of your sessions: its refresh and access tokens stop working',
        security: bearerAuth,
        response: noContent,
        params: SessionParams,
      },
    },
    async (req, reply) => {
      await account.revokeSession(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
