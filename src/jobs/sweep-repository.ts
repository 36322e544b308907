import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
import { releaseUsage } from '../files/quota-repository.js'
import type { DB } from '../schema.js'

export interface MarkedFile {
  id: string
  owner_id: string
  name: string
}

/** The worker's own queries: claiming work in batches so several instances never collide. */
export class SweepRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /** Hides up to `limit` visible files whose expiry has passed; returns them. */
  markExpired(limit: number): Promise<MarkedFile[]> {
    return this.markDeleted(limit, 'available', (eb) => eb('expires_at', '<=', new Date()))
  }

  /** Gives up on pending uploads whose uploader stopped renewing its lease (it died). */
  markAbandoned(limit: number): Promise<MarkedFile[]> {
    return this.markDeleted(limit, 'pending', (eb) => eb('lease_until', '<', new Date()))
  }

  /** Deletes up to `limit` Idempotency-Keys created before `cutoff` (already treated as absent). */
  async deleteIdempotencyKeys(cutoff: Date, limit: number): Promise<number> {
    const result = await this.db
      .deleteFrom('idempotency_keys')
      .where(({ eb, refTuple, selectFrom }) =>
        eb(
          refTuple('user_id', 'key'),
          'in',
          selectFrom('idempotency_keys')
            .select(['user_id', 'key'])
            .where('created_at', '<=', cutoff)
            .limit(limit)
            .$asTuple('user_id', 'key'),
        ),
      )
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }

  /** Which of these storage keys a row still refers to, whatever its status (a tus carry too). */
  async knownKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set()
    const [files, carries] = await Promise.all([
      this.db.selectFrom('files').select('storage_key').where('storage_key', 'in', keys).execute(),
      this.db
        .selectFrom('tus_uploads')
        .select('carry_key')
        .where('carry_key', 'in', keys)
        .execute(),
    ])
    return new Set([
      ...files.map((r) => r.storage_key),
      ...carries.flatMap((r) => (r.carry_key === null ? [] : [r.carry_key])),
    ])
  }

  /**
   * Hides up to `limit` rows in `status` matching `condition`, and gives back what they
   * counted against their owners' quotas (a visible file its size, a pending one its
   * reservation) in the same transaction.
   */
  private markDeleted(
    limit: number,
    status: 'available' | 'pending',
    condition: (eb: ExpressionBuilder<DB, 'files'>) => Expression<SqlBool>,
  ): Promise<MarkedFile[]> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .updateTable('files')
        .set({ status: 'deleted', lease_until: null, updated_at: new Date() })
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('files')
            .select('id')
            .where('status', '=', status)
            .where(condition)
            .limit(limit)
            .forUpdate()
            .skipLocked(),
        )
        .returning(['id', 'owner_id', 'name', 'size', 'reserved_bytes'])
        .execute()
      await releaseUsage(
        trx,
        rows.map((row) => ({
          ownerId: row.owner_id,
          bytes: status === 'available' ? row.size : row.reserved_bytes,
        })),
      )
      return rows.map(({ id, owner_id, name }) => ({ id, owner_id, name }))
    })
  }
}
