import type { UsersService } from '../../../users/users-service.js'
import type { App } from '../../types.js'
import { RefreshBody, TokenPair } from './schemas.js'

export function refreshToken(app: App, users: UsersService) {
  app.post(
    '/token/refresh',
    {
      schema: {
        tags: ['accounts'],
        summary: 'Rotate a refresh token for a new token pair',
        body: RefreshBody,
        response: { 200: TokenPair },
      },
    },
    (req) => users.refresh(req.body.refresh_token),
  )
}
