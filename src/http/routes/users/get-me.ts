import type { UsersService } from '../../../users/users-service.js'
import { bearerAuth } from '../../openapi.js'
import type { App } from '../../types.js'
import { Me, meResponse } from './schemas.js'

export function getMe(app: App, users: UsersService) {
  app.get(
    '/me',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['accounts'],
        summary: 'The current user',
        operationId: 'getMe',
        security: bearerAuth,
        response: { 200: Me },
      },
    },
    async (req) => meResponse(await users.me(req.user.id)),
  )
}
