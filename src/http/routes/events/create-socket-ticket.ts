import { Type } from '@fastify/type-provider-typebox'
import type { SocketTickets } from '../../../users/socket-tickets.js'
import { bearerAuth } from '../../openapi.js'
import type { App } from '../../types.js'

export function createSocketTicket(app: App, tickets: SocketTickets) {
  app.post(
    '/ws/ticket',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['notifications'],
        summary: 'A one-time ticket (30 s) to open GET /ws?ticket=…',
        operationId: 'createSocketTicket',
        security: bearerAuth,
        response: { 201: Type.Object({ ticket: Type.String(), expires_in: Type.Integer() }) },
      },
    },
    async (req, reply) =>
      reply.code(201).send({ ticket: tickets.issue(req.user.id), expires_in: tickets.ttlSeconds }),
  )
}
