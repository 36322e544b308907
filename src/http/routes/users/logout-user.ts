import type { UsersService } from '../../../users/users-service.js'
import { bearerAuth, noContent } from '../../openapi.js'
import type { App } from '../../types.js'

export function logoutUser(app: App, users: UsersService) {
  app.post(
    '/logout',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['accounts'],
        summary: 'End this session: its refresh and access tokens stop working',
        operationId: 'logoutUser',
        security: bearerAuth,
        response: noContent,
      },
    },
    async (req, reply) => {
      await users.logout(req.user.id, req.user.sessionId)
      return reply.code(204).send(null)
    },
  )
}
