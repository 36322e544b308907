import type { AccountService } from '../../../users/account-service.js'
import { bearerAuth, noContent, problems } from '../../openapi.js'
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
        operationId: 'deleteSession',
        security: bearerAuth,
        response: {
          ...noContent,
          ...problems({
            404: "`session_not_found`: no such session of yours (another user's too)",
          }),
        },
        params: SessionParams,
      },
    },
    async (req, reply) => {
      await account.revokeSession(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
