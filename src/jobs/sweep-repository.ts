import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely'
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

  /** Which of these storage keys a row still refers to, whatever its status. */
  async knownKeys(keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set()
    const rows = await this.db
      .selectFrom('files')
      .select('storage_key')
      .where('storage_key', 'in', keys)
      .execute()
    return new Set(rows.map((r) => r.storage_key))
  }

  private markDeleted(
    limit: number,
    status: 'available' | 'pending',
    condition: (eb: ExpressionBuilder<DB, 'files'>) => Expression<SqlBool>,
  ): Promise<MarkedFile[]> {
    return this.db
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
      .returning(['id', 'owner_id', 'name'])
      .execute()
  }
}
