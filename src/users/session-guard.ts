import { NotAuthenticatedError } from '../errors.js'
import { type EventBus, newEvent } from '../events/event-bus.js'
import type { AccessClaims } from './access-tokens.js'
import type { SessionsRepository } from './sessions-repository.js'
import { AccountDisabledError } from './users-errors.js'

/**
 * The bus channel every instance's guard listens on. Revocations go to all instances, not
 * to one user's listeners, and no WebSocket ever subscribes to it (sockets follow user ids).
 */
export const REVOCATIONS_CHANNEL = 'revocations'

/**
 * Tells every instance's guard to forget the user's verdicts, and the user's sockets to
 * close. For processes without a guard of their own (the operator's CLI).
 */
export async function publishRevocation(events: EventBus, userId: string, reason: string) {
  await Promise.all([
    events.publish(newEvent('access.revoked', REVOCATIONS_CHANNEL, { user_id: userId })),
    events.publish(newEvent('access.revoked', userId, { reason })),
  ])
}

type Verdict = 'valid' | 'revoked' | 'disabled'

interface Entry {
  userId: string
  verdict: Verdict
  until: number
}

export interface SessionGuardOptions {
  sessions: SessionsRepository
  events: EventBus
  /**
   * How long a verdict is trusted without asking the database. Revocations reach every
   * instance through the bus at once; this bounds how long one that missed the event (a
   * Redis outage) keeps accepting a revoked token.
   */
  ttlMs?: number
  maxEntries?: number
}

const DEFAULT_TTL_MS = 5_000
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Checks, after the signature, that an access token's session is still live and its user
 * neither disabled nor deleted. Verdicts are kept in process, so a request usually costs one
 * Map read; a revocation drops its user's verdicts on every instance (published after the
 * commit that made it true). A load that began before a revocation never stores its verdict:
 * each revocation moves the generation on, and a load stores only under the one it began in.
 */
export class SessionGuard {
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number
  private readonly loads = new Map<string, { generation: number; verdict: Promise<Verdict> }>()
  private readonly ttlMs: number
  private generation = 0
  private readonly unsubscribe: () => void

  constructor(private readonly options: SessionGuardOptions) {
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS
    this.maxEntries = options.maxEntries ?? 10_000
    this.unsubscribe = options.events.subscribe(REVOCATIONS_CHANNEL, (event) => {
      if (event.type === 'access.revoked' && typeof event.data.user_id === 'string')
        this.forget(event.data.user_id)
    })
  }

  /** Resolves if the claims' session may act; rejects with 401, or 403 for a disabled user. */
  async check(claims: AccessClaims): Promise<void> {
    const verdict = this.known(claims) ?? (await this.load(claims))
    if (verdict === 'disabled') throw new AccountDisabledError()
    if (verdict === 'revoked') throw new NotAuthenticatedError('The session has been revoked')
  }

  /** True when this process already knows the session may act; otherwise ask check(). */
  passes(claims: AccessClaims): boolean {
    return this.known(claims) === 'valid'
  }

  /**
   * Drops the user's verdicts here and, through the bus, on every other instance. Call it
   * after the commit that revoked, disabled or deleted; `reason` tells the user's sockets.
   */
  async revoked(userId: string, reason: string): Promise<void> {
    this.forget(userId)
    await publishRevocation(this.options.events, userId, reason)
  }

  close(): void {
    this.unsubscribe()
  }

  private forget(userId: string) {
    this.generation++
    this.loads.clear()
    // Revocations are rare and the map is bounded: a scan costs little.
    for (const [sessionId, entry] of this.entries) {
      if (entry.userId === userId) this.entries.delete(sessionId)
    }
  }

  private known(claims: AccessClaims): Verdict | undefined {
    const entry = this.entries.get(claims.sessionId)
    return entry && entry.until > Date.now() && entry.userId === claims.userId
      ? entry.verdict
      : undefined
  }

  private load({ userId, sessionId }: AccessClaims): Promise<Verdict> {
    const generation = this.generation
    const running = this.loads.get(sessionId)
    if (running?.generation === generation) return running.verdict
    const verdict = this.read(userId, sessionId).then((verdict) => {
      if (this.generation !== generation) return verdict
      // Starting over when full costs one reload per active session, and keeps reads plain.
      if (this.entries.size >= this.maxEntries) this.entries.clear()
      this.entries.set(sessionId, { userId, verdict, until: Date.now() + this.ttlMs })
      return verdict
    })
    const settle = () => {
      if (this.loads.get(sessionId)?.verdict === verdict) this.loads.delete(sessionId)
    }
    verdict.then(settle, settle)
    this.loads.set(sessionId, { generation, verdict })
    return verdict
  }

  private async read(userId: string, sessionId: string): Promise<Verdict> {
    // Only tokens we signed get here, but a malformed id must not become a database error.
    if (!UUID.test(sessionId)) return 'revoked'
    const state = await this.options.sessions.state(sessionId)
    if (!state || state.user_id !== userId || state.revoked_at || state.deleted_at) return 'revoked'
    return state.disabled_at ? 'disabled' : 'valid'
  }
}
