import type { AccountService } from '../../../users/account-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import type { App } from '../../types.js'
import { SessionPage, SessionsQuery } from './schemas.js'

export function listSessions(app: App, account: AccountService) {
  app.get(
    '/sessions',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['accounts'],
        summary: 'Your live sessions (one per login), newest first',
        operationId: 'listSessions',
        security: bearerAuth,
        querystring: SessionsQuery,
        response: {
          200: SessionPage,
          ...problems({ 400: '`invalid_cursor`, or `validation_failed`' }),
        },
      },
    },
    async (req, reply) => {
      const { items, nextCursor } = await account.listSessions(req.user.id, req.user.sessionId, {
        limit: req.query.limit,
        cursor: req.query.cursor,
      })
      reply.header('cache-control', 'no-store')
      return {
        items: items.map((s) => ({
          ...s,
          created_at: s.created_at.toISOString(),
          last_used_at: s.last_used_at.toISOString(),
        })),
        next_cursor: nextCursor,
      }
    },
  )
}
