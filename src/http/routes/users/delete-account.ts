import type { AccountService } from '../../../users/account-service.js'
import { bearerAuth, noContent, problems, RetryAfter } from '../../openapi.js'
import { strictLimit } from '../../plugins/rate-limit.js'
import type { App } from '../../types.js'
import { PasswordConfirmation } from './schemas.js'

export function deleteAccount(app: App, account: AccountService, perMinute: number) {
  app.delete(
    '/me',
    {
      onRequest: app.authenticate,
      config: strictLimit(perMinute),
      schema: {
        tags: ['accounts'],
        summary:
          'Delete your account at once: tokens, links and sockets stop; the files follow in the background',
        operationId: 'deleteAccount',
        security: bearerAuth,
        response: {
          ...noContent,
          ...problems({
            401: '`invalid_credentials`: the password is wrong; or `not_authenticated`',
            429: {
              description:
                '`too_many_attempts` (ten wrong passwords in 15 minutes), or `rate_limited`',
              headers: RetryAfter,
            },
          }),
        },
        body: PasswordConfirmation,
      },
    },
    async (req, reply) => {
      await account.deleteOwnAccount(req.user.id, req.body.password, {
        ip: req.ip ?? 'unknown',
        userAgent: req.headers['user-agent'],
      })
      return reply.code(204).send(null)
    },
  )
}
