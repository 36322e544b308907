import { Type } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { AppError } from '../../../errors.js'
import type { EventBus } from '../../../events/event-bus.js'
import type { SocketTickets } from '../../../users/socket-tickets.js'
import { anonymous, documentOnly, problems } from '../../openapi.js'
import type { App } from '../../types.js'

const HEARTBEAT_MS = 30_000
// A client that lets this much pile up unread is too slow to follow: it is disconnected
// (1013, try again later) and resyncs through GET /files when it reconnects.
const MAX_BUFFERED_BYTES = 1024 * 1024
// RFC 6455 "going away": the server is shutting down, so the client reconnects (to another
// instance) and resyncs. @fastify/websocket's own preClose would send no code (1005).
const GOING_AWAY = 1001

// @fastify/websocket hides its routes from the document; this puts GET /ws back, with the
// upgrade that no HTTP response schema can describe.
const SOCKET_DOCUMENT = documentOnly({
  hide: false,
  operationId: 'openNotificationsSocket',
  description:
    'A WebSocket (RFC 6455): send `Connection: Upgrade` and `Upgrade: websocket`. The server sends JSON text frames, each a `SocketMessage`: first `connected`, then your events, on every connection you have open. Delivery is best effort: after a reconnect, resync with GET /files. The server pings every 30 s and drops sockets that do not answer.',
  security: anonymous,
  response: {
    101: {
      description:
        'Switching Protocols: the socket is open. No HTTP body follows; the content below is what each WebSocket text frame holds',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/SocketMessage' } } },
      headers: {
        upgrade: { type: 'string', const: 'websocket' },
        connection: { type: 'string', const: 'Upgrade' },
        'sec-websocket-accept': { type: 'string', description: 'RFC 6455 handshake' },
      },
    },
    404: { type: 'null', description: 'Not an upgrade request (no body)' },
    ...problems({
      400: '`validation_failed`: no ticket, or one over 512 characters',
      401: '`invalid_ticket`: forged, expired or already used',
      403: '`forbidden_origin`: the Origin is not in ALLOWED_ORIGINS',
      429: '`rate_limited`',
      500: '`internal_error`',
      503: '`service_unavailable`',
    }),
  },
})

class ForbiddenOriginError extends AppError {
  constructor() {
    super('forbidden_origin', 403, 'This origin may not open a WebSocket')
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    socketUserId?: string
  }
}

export function notificationsSocket(
  app: App,
  options: {
    tickets: SocketTickets
    events: EventBus
    allowedOrigins: string[]
    connections: { inc(): void; dec(): void }
  },
) {
  const { tickets, events, allowedOrigins, connections } = options
  app.get(
    '/ws',
    {
      websocket: true,
      config: SOCKET_DOCUMENT,
      schema: {
        tags: ['notifications'],
        summary: 'WebSocket of your events; connect with a ticket from POST /ws/ticket',
        querystring: Type.Object({ ticket: Type.String({ minLength: 1, maxLength: 512 }) }),
      },
      // Runs before the upgrade, so a refusal is a plain HTTP 401/403 the client can read.
      preValidation: async (req: FastifyRequest<{ Querystring: { ticket?: string } }>) => {
        const origin = req.headers.origin
        if (allowedOrigins.length > 0 && origin && !allowedOrigins.includes(origin))
          throw new ForbiddenOriginError()
        req.socketUserId = await tickets.redeem(req.query.ticket ?? '')
      },
    },
    (socket, req) => {
      connections.inc()
      socket.on('close', () => connections.dec())
      follow(socket, req.socketUserId!, events)
    },
  )
}

/** @fastify/websocket's preClose: tells every open socket that this server is going away. */
export async function closeSocketsGoingAway(this: FastifyInstance) {
  for (const client of this.websocketServer.clients)
    client.close(GOING_AWAY, 'server shutting down')
}

function follow(socket: WebSocket, userId: string, events: EventBus) {
  const send = (message: { type: string; at: string }) => {
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      socket.close(1013, 'client too slow')
      return
    }
    socket.send(JSON.stringify(message))
  }
  const unsubscribe = events.subscribe(userId, ({ user_id: _, ...event }) => {
    send(event)
    // Tickets name the user, not the session: any revocation ends the user's sockets, and
    // only a client whose token still works gets a ticket to reconnect (1008: policy).
    if (event.type === 'access.revoked') socket.close(1008, 'access revoked')
  })
  let alive = true
  socket.on('pong', () => {
    alive = true
  })
  const heartbeat = setInterval(() => {
    if (!alive) return socket.terminate()
    alive = false
    socket.ping()
  }, HEARTBEAT_MS)
  socket.on('close', () => {
    clearInterval(heartbeat)
    unsubscribe()
  })
  // Tells the client its subscription is live: events from now on will reach it.
  send({ type: 'connected', at: new Date().toISOString() })
}
