import type { UsersService } from '../../../users/users-service.js'
import { strictLimit } from '../../plugins/rate-limit.js'
import type { App } from '../../types.js'
import { Credentials, TokenPair } from './schemas.js'

export function loginUser(app: App, users: UsersService, perMinute: number) {
  app.post(
    '/login',
    {
      config: strictLimit(perMinute),
      schema: {
        tags: ['accounts'],
        summary: 'Exchange email and password for tokens',
        body: Credentials,
        response: { 200: TokenPair },
      },
    },
    (req) =>
      users.login(req.body.email, req.body.password, {
        ip: req.ip ?? 'unknown',
        userAgent: req.headers['user-agent'],
      }),
  )
}
