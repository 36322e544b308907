import type { AccountService } from '../../../users/account-service.js'
import { bearerAuth, problems, RetryAfter } from '../../openapi.js'
import { strictLimit } from '../../plugins/rate-limit.js'
import type { App } from '../../types.js'
import { PasswordChange, TokenPair } from './schemas.js'

export function changePassword(app: App, account: AccountService, perMinute: number) {
  app.post(
    '/me/password',
    {
      onRequest: app.authenticate,
      config: strictLimit(perMinute),
      schema: {
        tags: ['accounts'],
        summary: 'Change your password: every session ends; you get a new token pair',
        operationId: 'changePassword',
        security: bearerAuth,
        body: PasswordChange,
        response: {
          200: TokenPair,
          ...problems({
            401: '`invalid_credentials`: the current password is wrong; or `not_authenticated`',
            429: {
              description:
                '`too_many_attempts` (ten wrong passwords in 15 minutes), or `rate_limited`',
              headers: RetryAfter,
            },
          }),
        },
      },
    },
    async (req, reply) => {
      const pair = await account.changePassword(
        req.user.id,
        { currentPassword: req.body.current_password, newPassword: req.body.new_password },
        { ip: req.ip ?? 'unknown', userAgent: req.headers['user-agent'] },
      )
      return reply.header('cache-control', 'no-store').send(pair)
    },
  )
}
