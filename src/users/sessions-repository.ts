import { type Kysely, sql } from 'kysely'
import type { DB } from '../schema.js'

export interface NewSession {
  id: string
  userId: string
  userAgent: string | null
  ip: string | null
}

export interface NewRefreshToken {
  sessionId: string
  tokenHash: string
  expiresAt: Date
}

/** Sessions and their refresh tokens: a token is only ever read or changed under its session. */
export class SessionsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Runs `work` in one transaction, with a repository bound to it. The work must do no
   * network or disk I/O of its own: it holds row locks (and, on PGlite, the only connection).
   */
  transaction<T>(work: (tx: SessionsRepository) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) => work(new SessionsRepository(trx)))
  }

  async insert(session: NewSession): Promise<void> {
    await this.db
      .insertInto('sessions')
      .values({
        id: session.id,
        user_id: session.userId,
        user_agent: session.userAgent,
        ip: session.ip,
      })
      .execute()
  }

  /**
   * Locks the session a refresh token belongs to until the transaction ends. A token's
   * session never changes, so finding it needs no lock of its own.
   */
  lockSessionOf(tokenHash: string) {
    return this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([
        'sessions.id',
        'sessions.user_id',
        'sessions.revoked_at',
        'users.disabled_at',
        'users.deleted_at',
      ])
      .where(
        'sessions.id',
        '=',
        this.db
          .selectFrom('refresh_tokens')
          .select('session_id')
          .where('token_hash', '=', tokenHash),
      )
      .forUpdate('sessions')
      .executeTakeFirst()
  }

  /** What decides whether a session's access tokens still work; undefined if it is gone. */
  state(sessionId: string) {
    return this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select(['sessions.user_id', 'sessions.revoked_at', 'users.disabled_at', 'users.deleted_at'])
      .where('sessions.id', '=', sessionId)
      .executeTakeFirst()
  }

  /**
   * One page of a user's sessions not revoked and used since `activeSince` (older ones have
   * no refresh token left that works), newest first, after the cursor's (created_at, id).
   */
  listLive(
    userId: string,
    activeSince: Date,
    page: { limit: number; after?: { createdAt: Date; id: string } },
  ) {
    // In milliseconds, as the cursor carries them (timestamptz keeps microseconds).
    const created = sql<Date>`date_trunc('milliseconds', created_at)`
    let query = this.db
      .selectFrom('sessions')
      .select(['id', 'user_agent', 'ip', 'created_at', 'last_used_at'])
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .where('last_used_at', '>', activeSince)
    const { after } = page
    if (after)
      query = query.where(sql<boolean>`(${created}, id) < (${after.createdAt}, ${after.id})`)
    return query.orderBy(created, 'desc').orderBy('id', 'desc').limit(page.limit).execute()
  }

  /** Revokes one of the user's sessions; false if the user has no session with this id. */
  async revokeOwn(userId: string, sessionId: string): Promise<boolean> {
    const rows = await this.db
      .updateTable('sessions')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(new Date())) }))
      .where('id', '=', sessionId)
      .where('user_id', '=', userId)
      .returning('id')
      .execute()
    return rows.length > 0
  }

  /** Revokes every session of the user; each UPDATE waits for a rotation in flight, as revoke(). */
  async revokeAllOf(userId: string): Promise<number> {
    const result = await this.db
      .updateTable('sessions')
      .set({ revoked_at: new Date() })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  /** Marks the session used now; call it with the session locked. */
  async touch(sessionId: string): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ last_used_at: new Date() })
      .where('id', '=', sessionId)
      .execute()
  }

  /**
   * Revoked for good. As an UPDATE it takes the row lock, so it waits for a rotation of
   * the session in flight to commit, and that rotation's new token is revoked with it.
   */
  async revoke(sessionId: string): Promise<void> {
    await this.db
      .updateTable('sessions')
      .set({ revoked_at: new Date() })
      .where('id', '=', sessionId)
      .where('revoked_at', 'is', null)
      .execute()
  }

  async insertToken(token: NewRefreshToken): Promise<void> {
    await this.db
      .insertInto('refresh_tokens')
      .values({
        session_id: token.sessionId,
        token_hash: token.tokenHash,
        expires_at: token.expiresAt,
      })
      .execute()
  }

  findToken(tokenHash: string) {
    return this.db
      .selectFrom('refresh_tokens')
      .select(['id', 'expires_at', 'used_at'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
  }

  /** Spends a token; call it with its session locked, which is what makes it happen once. */
  async markTokenUsed(id: string): Promise<void> {
    await this.db
      .updateTable('refresh_tokens')
      .set({ used_at: new Date() })
      .where('id', '=', id)
      .execute()
  }
}
