import type { Kysely } from 'kysely'
import type { DB } from '../schema.js'

export interface NewRefreshToken {
  familyId: string
  userId: string
  tokenHash: string
  expiresAt: Date
}

export class RefreshTokensRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insert(token: NewRefreshToken): Promise<void> {
    await this.db
      .insertInto('refresh_tokens')
      .values({
        family_id: token.familyId,
        user_id: token.userId,
        token_hash: token.tokenHash,
        expires_at: token.expiresAt,
      })
      .execute()
  }

  findByHash(tokenHash: string) {
    return this.db
      .selectFrom('refresh_tokens')
      .select(['id', 'family_id', 'user_id', 'expires_at', 'used_at', 'revoked_at'])
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
  }

  /** Marks the token used; false when another request used it first (a replay race). */
  async markUsed(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('refresh_tokens')
      .set({ used_at: new Date() })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.db
      .updateTable('refresh_tokens')
      .set({ revoked_at: new Date() })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute()
  }
}
