import type { Kysely } from 'kysely'
import type { DB } from '../schema.js'

/**
 * Deleting an account: the user row is hidden at once and removed last, once its files'
 * blobs and rows are gone, because removing it first would cascade to the file rows and
 * leave their blobs to the slow orphan scan.
 */
export class ClosedAccountsRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * In one transaction: hides the user (freeing its email), revokes its sessions and marks
   * its files deleted. Visible files lose any lease, so the next sweep purges them; a pending
   * file keeps its uploader's lease, so its blob is not removed under a write still in
   * flight (the upload cannot commit a row no longer pending, and the sweeper takes it once
   * the lease lapses). Returns the hidden files, or undefined if there was no live account.
   */
  close(userId: string): Promise<string[] | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const closed = await trx
        .updateTable('users')
        .set({ deleted_at: new Date() })
        .where('id', '=', userId)
        .where('deleted_at', 'is', null)
        .returning('id')
        .executeTakeFirst()
      if (!closed) return undefined
      await trx
        .updateTable('sessions')
        .set({ revoked_at: new Date() })
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .execute()
      return hideFiles(trx, [userId])
    })
  }

  /**
   * The sweeper's step, after the purge: hides what an upload that was in flight committed
   * after its owner was deleted, then removes deleted users with no file row left (their
   * sessions, tokens and share links go with them by cascade). Returns what it did.
   */
  async finish(limit: number): Promise<{ hiddenFiles: string[]; removedUsers: number }> {
    return this.db.transaction().execute(async (trx) => {
      const closing = await trx
        .selectFrom('users')
        .select('id')
        .where('deleted_at', 'is not', null)
        .orderBy('deleted_at')
        .limit(limit)
        .forUpdate()
        .skipLocked()
        .execute()
      const ids = closing.map((u) => u.id)
      if (ids.length === 0) return { hiddenFiles: [], removedUsers: 0 }
      const hiddenFiles = await hideFiles(trx, ids)
      const removed = await trx
        .deleteFrom('users')
        .where('id', 'in', ids)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('files').select('id').whereRef('files.owner_id', '=', 'users.id'))),
        )
        .executeTakeFirst()
      return { hiddenFiles, removedUsers: Number(removed.numDeletedRows) }
    })
  }
}

async function hideFiles(trx: Kysely<DB>, ownerIds: string[]): Promise<string[]> {
  const now = new Date()
  const visible = await trx
    .updateTable('files')
    .set({ status: 'deleted', lease_until: null, updated_at: now })
    .where('owner_id', 'in', ownerIds)
    .where('status', '=', 'available')
    .returning('id')
    .execute()
  const pending = await trx
    .updateTable('files')
    .set({ status: 'deleted', updated_at: now })
    .where('owner_id', 'in', ownerIds)
    .where('status', '=', 'pending')
    .returning('id')
    .execute()
  return [...visible, ...pending].map((f) => f.id)
}
