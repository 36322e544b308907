import type { UsersService } from '../../../users/users-service.js'
import { anonymous, problems, RetryAfter } from '../../openapi.js'
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
        operationId: 'loginUser',
        security: anonymous,
        body: Credentials,
        response: {
          200: TokenPair,
          ...problems({
            401: '`invalid_credentials`: unknown email or wrong password (one answer for both)',
            403: '`account_disabled`',
            429: {
              description:
                '`too_many_attempts` (ten wrong passwords for this email from this client in 15 minutes), or `rate_limited`',
              headers: RetryAfter,
            },
          }),
        },
      },
    },
    (req) =>
      users.login(req.body.email, req.body.password, {
        ip: req.ip ?? 'unknown',
        userAgent: req.headers['user-agent'],
      }),
  )
}
