import type { UsersService } from '../../../users/users-service.js'
import { anonymous, problems } from '../../openapi.js'
import type { App } from '../../types.js'
import { RefreshBody, TokenPair } from './schemas.js'

export function refreshToken(app: App, users: UsersService) {
  app.post(
    '/token/refresh',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Rotate a refresh token for a new token pair',
        operationId: 'refreshToken',
        security: anonymous,
        body: RefreshBody,
        response: {
          200: TokenPair,
          ...problems({
            401: '`invalid_refresh_token`: unknown, expired, spent (which ends its session) or revoked',
            403: '`account_disabled`',
          }),
        },
      },
    },
    (req) => users.refresh(req.body.refresh_token),
  )
}
