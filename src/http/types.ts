import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type {
  FastifyBaseLogger,
  FastifyInstance,
  onRequestHookHandler,
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
    /** The bearer token's claims, read at most once per request (tokenClaims()); null before. */
    accessClaims: AccessClaims | Promise<AccessClaims> | undefined | null
  }
  interface FastifyInstance {
    /** The onRequest hook of routes that need the owner's token. */
    authenticate: onRequestHookHandler
    /** The same check for a handler that needs it only sometimes. */
    authenticated: (req: FastifyRequest) => Promise<void>
    /** The background worker; built with the app, started by main. */
    sweeper: Sweeper
  }
}
