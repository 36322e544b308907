import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify'
import type { Sweeper } from '../jobs/sweeper.js'
import type { AccessClaims } from '../users/access-tokens.js'

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>

export interface AuthenticatedUser {
  id: string
  sessionId: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authenticate hook; routes that use the hook can rely on it. */
    user: AuthenticatedUser
    /** The bearer token's verification, started at most once per request (verifiedClaims()). */
    accessClaims: Promise<AccessClaims> | null
  }
  interface FastifyInstance {
    authenticate: (req: FastifyRequest) => Promise<void>
    /** The background worker; built with the app, started by main. */
    sweeper: Sweeper
  }
}
