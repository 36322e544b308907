import { type Kysely, sql, type Transaction } from 'kysely'
import type { DB } from '../schema.js'

/** A user's storage: what their files take, and the most they may. */
export interface Usage {
  usedBytes: number
  /** Null when unlimited. */
  quotaBytes: number | null
}

type Executor = Kysely<DB> | Transaction<DB>

/**
 * users.used_bytes: the bytes reserved by a user's pending uploads plus the size of their
 * visible files. Reservations go through here; every file transition that changes what a
 * file counts (commit, delete, expiry, giving up) releases the difference in its own
 * transaction, through releaseUsage().
 */
export class QuotaRepository {
  constructor(
    private readonly db: Kysely<DB>,
    /** DEFAULT_QUOTA_BYTES: the quota of users without their own; 0 for unlimited. */
    private readonly defaultQuotaBytes: number,
  ) {}

  /**
   * Adds `bytes` to the pending file's reservation and its owner's usage, if the quota
   * allows; both or neither. The quota check and the increment are one conditional UPDATE,
   * so concurrent uploads can never pass the quota together. 'lost' when the row is no
   * longer pending (the sweeper gave up on it).
   */
  reserve(fileId: string, ownerId: string, bytes: number): Promise<'ok' | 'over' | 'lost'> {
    return this.db
      .transaction()
      .execute(async (trx) => {
        const quota = sql<number>`coalesce(quota_bytes, ${this.defaultQuotaBytes})`
        const user = await trx
          .updateTable('users')
          .set({ used_bytes: sql`used_bytes + ${bytes}` })
          .where('id', '=', ownerId)
          .where((eb) => eb.or([eb(quota, '=', 0), eb(sql`used_bytes + ${bytes}`, '<=', quota)]))
          .executeTakeFirst()
        if (user.numUpdatedRows === 0n) return 'over'
        const file = await trx
          .updateTable('files')
          .set({ reserved_bytes: sql`reserved_bytes + ${bytes}` })
          .where('id', '=', fileId)
          .where('status', '=', 'pending')
          .executeTakeFirst()
        if (file.numUpdatedRows === 0n) throw new LostReservation()
        return 'ok'
      })
      .catch((err: unknown) => {
        if (err instanceof LostReservation) return 'lost' as const
        throw err
      })
  }

  async usage(userId: string): Promise<Usage | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select(['used_bytes', 'quota_bytes'])
      .where('id', '=', userId)
      .executeTakeFirst()
    if (!row) return undefined
    const quota = row.quota_bytes ?? this.defaultQuotaBytes
    return { usedBytes: row.used_bytes, quotaBytes: quota === 0 ? null : quota }
  }

  /** Null returns the user to the default quota; 0 makes them unlimited. */
  async setQuota(userId: string, quotaBytes: number | null): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ quota_bytes: quotaBytes })
      .where('id', '=', userId)
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }
}

class LostReservation extends Error {}

/**
 * Gives bytes back to their owners' usage, within the caller's transaction: the one that
 * moves the files they were counted for.
 */
export async function releaseUsage(
  trx: Executor,
  amounts: { ownerId: string; bytes: number }[],
): Promise<void> {
  const byOwner = new Map<string, number>()
  for (const { ownerId, bytes } of amounts) {
    byOwner.set(ownerId, (byOwner.get(ownerId) ?? 0) + bytes)
  }
  for (const [ownerId, bytes] of byOwner) {
    if (bytes === 0) continue
    await trx
      .updateTable('users')
      .set({ used_bytes: sql`used_bytes - ${bytes}` })
      .where('id', '=', ownerId)
      .execute()
  }
}
