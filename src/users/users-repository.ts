import type { Kysely } from 'kysely'
import type { DB } from '../schema.js'
import { InvitesRepository } from './invites-repository.js'
import { SessionsRepository } from './sessions-repository.js'

export interface UserRecord {
  id: string
  email: string
  created_at: Date
}

/** A user as the operator sees it. */
export interface UserSummary extends UserRecord {
  disabled_at: Date | null
}

export interface AccountsTransaction {
  users: UsersRepository
  sessions: SessionsRepository
  invites: InvitesRepository
}

const UNIQUE_VIOLATION = '23505'

/** Live accounts only: a deleted one is hidden from every query until the sweeper removes it. */
export class UsersRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Runs `work` in one transaction, with repositories bound to it. The work must do no
   * network or disk I/O of its own: it holds row locks (and, on PGlite, the only connection).
   */
  transaction<T>(work: (tx: AccountsTransaction) => Promise<T>): Promise<T> {
    return this.db.transaction().execute((trx) =>
      work({
        users: new UsersRepository(trx),
        sessions: new SessionsRepository(trx),
        invites: new InvitesRepository(trx),
      }),
    )
  }

  /** Returns undefined when the email is already registered. */
  async insert(email: string, passwordHash: string): Promise<UserRecord | undefined> {
    try {
      return await this.db
        .insertInto('users')
        .values({ email, password_hash: passwordHash })
        .returning(['id', 'email', 'created_at'])
        .executeTakeFirstOrThrow()
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) return undefined
      throw err
    }
  }

  findByEmail(email: string) {
    return this.db
      .selectFrom('users')
      .select(['id', 'email', 'created_at', 'password_hash', 'disabled_at'])
      .where('email', '=', email)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
  }

  findById(id: string): Promise<UserRecord | undefined> {
    return this.db
      .selectFrom('users')
      .select(['id', 'email', 'created_at'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
  }

  findCredentials(id: string) {
    return this.db
      .selectFrom('users')
      .select(['email', 'password_hash'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
  }

  /**
   * The credentials as they are now, the row locked until the transaction ends: a password
   * change, disable or deletion (each an UPDATE of this row) waits for the caller to commit,
   * or the caller waits for it and reads its result. Logins share the lock; a change, which
   * updates the row after reading it, takes it whole (two sharers upgrading would deadlock).
   */
  lockCredentials(id: string, mode: 'share' | 'update') {
    const query = this.db
      .selectFrom('users')
      .select(['password_hash', 'disabled_at'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
    return (mode === 'share' ? query.forShare() : query.forUpdate()).executeTakeFirst()
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ password_hash: passwordHash })
      .where('id', '=', id)
      .execute()
  }

  /** Disables or enables a live account; false if there is none with this id. */
  async setDisabled(id: string, disabled: boolean): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ disabled_at: disabled ? new Date() : null })
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  /** A live account, by id or by (normalised) email, for the operator. */
  findForOperator(key: { id: string } | { email: string }): Promise<UserSummary | undefined> {
    const query = this.db
      .selectFrom('users')
      .select(['id', 'email', 'created_at', 'disabled_at'])
      .where('deleted_at', 'is', null)
    return (
      'id' in key ? query.where('id', '=', key.id) : query.where('email', '=', key.email)
    ).executeTakeFirst()
  }

  /** One page of live accounts in email order, after `afterEmail`. */
  list(limit: number, afterEmail?: string): Promise<UserSummary[]> {
    let query = this.db
      .selectFrom('users')
      .select(['id', 'email', 'created_at', 'disabled_at'])
      .where('deleted_at', 'is', null)
    if (afterEmail !== undefined) query = query.where('email', '>', afterEmail)
    return query.orderBy('email').limit(limit).execute()
  }
}
