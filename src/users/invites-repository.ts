import type { Kysely } from 'kysely'
import type { DB } from '../schema.js'

export class InvitesRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insert(invite: { tokenHash: string; expiresAt: Date; note: string | null }) {
    return this.db
      .insertInto('invites')
      .values({ token_hash: invite.tokenHash, expires_at: invite.expiresAt, note: invite.note })
      .returning(['id', 'expires_at'])
      .executeTakeFirstOrThrow()
  }

  /**
   * Spends an unused, unexpired invite in one conditional UPDATE: of parallel attempts with
   * one token, the first takes the row lock and the rest, once it commits, find it used.
   * Call it in the transaction that creates the user, so a registration that fails after
   * it (email taken) leaves the invite unspent.
   */
  async spend(tokenHash: string): Promise<string | undefined> {
    const row = await this.db
      .updateTable('invites')
      .set({ used_at: new Date() })
      .where('token_hash', '=', tokenHash)
      .where('used_at', 'is', null)
      .where('expires_at', '>', new Date())
      .returning('id')
      .executeTakeFirst()
    return row?.id
  }

  async recordUser(id: string, userId: string): Promise<void> {
    await this.db.updateTable('invites').set({ used_by: userId }).where('id', '=', id).execute()
  }
}
