import type { UsersService } from '../../../users/users-service.js'
import { bearerAuth } from '../../openapi.js'
import type { App } from '../../types.js'

export function logoutUser(app: App, users: UsersService) {
  app.post(
    '/logout',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['accounts'],
        summary: "Revoke the session's refresh tokens",
        security: bearerAuth,
      },
    },
    async (req, reply) => {
      await users.logout(req.user.sessionId)
      return reply.code(204).send()
    },
  )
}
