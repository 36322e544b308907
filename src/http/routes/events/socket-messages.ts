import { type TSchema, Type } from '@fastify/type-provider-typebox'

// The JSON text frames GET /ws sends, for the OpenAPI document: HTTP has no body to hang
// them on, so they are a component of their own (see notifications-socket.ts).

const event = <T extends string>(type: T, description: string, data: TSchema) =>
  Type.Object(
    {
      type: Type.Literal(type),
      id: Type.String({ format: 'uuid', description: 'Tells a redelivered event from a new one' }),
      at: Type.String({ format: 'date-time' }),
      data,
    },
    { description },
  )

const FileData = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  size: Type.Integer(),
  content_type: Type.String(),
  sha256: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const SocketMessage = Type.Union(
  [
    Type.Object(
      { type: Type.Literal('connected'), at: Type.String({ format: 'date-time' }) },
      { description: 'First message: your events from now on will reach this socket' },
    ),
    event('upload.completed', 'A file of yours is stored and visible', FileData),
    event(
      'upload.failed',
      'An upload of yours failed; nothing of it was kept',
      Type.Object({
        name: Type.Union([Type.String(), Type.Null()]),
        reason: Type.String({ description: "The error's code, e.g. payload_too_large" }),
      }),
    ),
    event('file.deleted', 'A file of yours was deleted', Type.Object({ id: Type.String() })),
    event(
      'file.expired',
      'A file of yours reached its expiry (from the sweeper)',
      Type.Object({ id: Type.String(), name: Type.String() }),
    ),
    event(
      'share.downloaded',
      'A whole copy of a file of yours was downloaded through a link',
      Type.Object({ share_id: Type.String(), file_id: Type.String() }),
    ),
    event(
      'access.revoked',
      'Your session or account lost its access; the server closes the socket (1008) next',
      Type.Object({ reason: Type.String() }),
    ),
  ],
  {
    description:
      'One JSON text frame from GET /ws. Close codes: 1001 server shutting down, 1008 access revoked, 1013 client too slow (over 1 MiB unread)',
  },
)
