import { Type } from '@fastify/type-provider-typebox'
import type { Usage } from '../../../files/quota-repository.js'
import type { UserRecord } from '../../../users/users-repository.js'
import { SafeInteger } from '../../safe-integer.js'

export const Credentials = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 8, maxLength: 1024 }),
  },
  { additionalProperties: false },
)

export const RegisterBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 8, maxLength: 1024 }),
    invite: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description: "The operator's one-time invite; required when REGISTRATION=invite",
      }),
    ),
  },
  { additionalProperties: false },
)

export const PasswordChange = Type.Object(
  {
    current_password: Type.String({ minLength: 1, maxLength: 1024 }),
    new_password: Type.String({ minLength: 8, maxLength: 1024 }),
  },
  { additionalProperties: false },
)

export const PasswordConfirmation = Type.Object(
  { password: Type.String({ minLength: 1, maxLength: 1024 }) },
  { additionalProperties: false },
)

export const Session = Type.Object({
  id: Type.String({ format: 'uuid' }),
  created_at: Type.String({ format: 'date-time' }),
  last_used_at: Type.String({
    format: 'date-time',
    description: 'The last login or token refresh of this session',
  }),
  user_agent: Type.Union([Type.String(), Type.Null()], { description: 'As seen at login' }),
  ip: Type.Union([Type.String(), Type.Null()], { description: 'As seen at login' }),
  current: Type.Boolean({ description: 'Whether this request came through this session' }),
})

export const SessionPage = Type.Object({
  items: Type.Array(Session),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
})

export const SessionsQuery = Type.Object(
  {
    limit: SafeInteger({ minimum: 1, maximum: 1000, default: 100 }),
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  },
  { additionalProperties: false },
)

export const SessionParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const User = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
})

export const Me = Type.Object({
  ...User.properties,
  used_bytes: Type.Integer({ description: "Bytes the user's files and uploads in flight take" }),
  quota_bytes: Type.Union([Type.Integer(), Type.Null()], {
    description: 'The most they may take (DEFAULT_QUOTA_BYTES or their own); null: unlimited',
  }),
})

export const TokenPair = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires' }),
  refresh_token: Type.String(),
})

export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 512 }) },
  { additionalProperties: false },
)

export function userResponse(user: UserRecord) {
  return { id: user.id, email: user.email, created_at: user.created_at.toISOString() }
}

export function meResponse(me: UserRecord & { usage: Usage }) {
  return {
    ...userResponse(me),
    used_bytes: me.usage.usedBytes,
    quota_bytes: me.usage.quotaBytes,
  }
}
