import type { UsersService } from '../../../users/users-service.js'
import type { App } from '../../types.js'
import { Credentials, TokenPair } from './schemas.js'

export function loginUser(app: App, users: UsersService) {
  app.post(
    '/login',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Exchange email and password for tokens',
        body: Credentials,
        response: { 200: TokenPair },
      },
    },
    (req) => users.login(req.body.email, req.body.password),
  )
}
