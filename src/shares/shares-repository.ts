import { type Kysely, type Selectable, sql } from 'kysely'
import type { DB, SharesTable } from '../schema.js'

export type ShareRecord = Selectable<SharesTable>

export interface NewShare {
  id: string
  fileId: string
  ownerId: string
  tokenHash: string
  /** The GET /share/:file_id options the link is made for; null for any other link. */
  requestOptions: string | null
  expiresAt: Date | null
  maxDownloads: number | null
  passwordHash: string | null
}

export interface ShareChanges {
  expires_at?: Date | null
  max_downloads?: number | null
  password_hash?: string | null
}

export class SharesRepository {
  constructor(private readonly db: Kysely<DB>) {}

  /**
   * Inserts the share; undefined when the file already has a link for the same request
   * options (a concurrent GET /share/:file_id made it first).
   */
  insert(share: NewShare): Promise<ShareRecord | undefined> {
    return this.db
      .insertInto('shares')
      .values({
        id: share.id,
        file_id: share.fileId,
        owner_id: share.ownerId,
        token_hash: share.tokenHash,
        request_options: share.requestOptions,
        expires_at: share.expiresAt,
        max_downloads: share.maxDownloads,
        password_hash: share.passwordHash,
      })
      .onConflict((oc) =>
        oc
          .columns(['file_id', 'request_options'])
          .where('request_options', 'is not', null)
          .doNothing(),
      )
      .returningAll()
      .executeTakeFirst()
  }

  findByRequest(fileId: string, requestOptions: string): Promise<ShareRecord | undefined> {
    return this.db
      .selectFrom('shares')
      .selectAll()
      .where('file_id', '=', fileId)
      .where('request_options', '=', requestOptions)
      .executeTakeFirst()
  }

  /**
   * Stops handing the link out for its request options, so a new one can take its place.
   * Conditional, so of concurrent callers that found it unusable only one changes anything.
   */
  async retire(id: string, requestOptions: string): Promise<void> {
    await this.db
      .updateTable('shares')
      .set({ request_options: null })
      .where('id', '=', id)
      .where('request_options', '=', requestOptions)
      .execute()
  }

  listForFile(ownerId: string, fileId: string): Promise<ShareRecord[]> {
    return this.db
      .selectFrom('shares')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('file_id', '=', fileId)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
  }

  findOwned(ownerId: string, id: string): Promise<ShareRecord | undefined> {
    return this.db
      .selectFrom('shares')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst()
  }

  findByTokenHash(tokenHash: string): Promise<ShareRecord | undefined> {
    return this.db
      .selectFrom('shares')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst()
  }

  update(ownerId: string, id: string, changes: ShareChanges): Promise<ShareRecord | undefined> {
    return this.db
      .updateTable('shares')
      .set({ ...changes, updated_at: new Date() })
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst()
  }

  async delete(ownerId: string, id: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('shares')
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .executeTakeFirst()
    return result.numDeletedRows > 0n
  }

  /**
   * Reserves `cost` bytes of the link's budget (max_downloads copies of the file's stored
   * size, an empty file counting as one byte) if they are left and the link has not expired.
   * A single conditional UPDATE, so concurrent responses can never reserve past the budget.
   */
  async reserveBytes(id: string, cost: number): Promise<boolean> {
    const result = await this.db
      .updateTable('shares')
      .from('files')
      .set({ bytes_reserved: sql`shares.bytes_reserved + ${cost}` })
      .whereRef('files.id', '=', 'shares.file_id')
      .where('shares.id', '=', id)
      .where((eb) =>
        eb.or([
          eb('shares.max_downloads', 'is', null),
          eb(
            sql`shares.bytes_reserved + ${cost}`,
            '<=',
            sql`shares.max_downloads::bigint * greatest(files.size, 1)`,
          ),
        ]),
      )
      .where((eb) =>
        eb.or([eb('shares.expires_at', 'is', null), eb('shares.expires_at', '>', new Date())]),
      )
      .executeTakeFirst()
    return result.numUpdatedRows > 0n
  }

  /**
   * Ends a reservation of `reserved` bytes of which `served` went out: the rest returns to
   * the budget and `downloads` becomes the whole copies served. Returns the copies served
   * before and after, or undefined if the link is gone.
   */
  async settleBytes(
    id: string,
    reserved: number,
    served: number,
  ): Promise<{ before: number; after: number } | undefined> {
    const copies = (servedBytes: unknown) => sql<number>`${servedBytes} / greatest(files.size, 1)`
    return this.db
      .updateTable('shares')
      .from('files')
      .set({
        bytes_reserved: sql`shares.bytes_reserved - ${reserved - served}`,
        bytes_served: sql`shares.bytes_served + ${served}`,
        downloads: copies(sql`(shares.bytes_served + ${served})`),
      })
      .whereRef('files.id', '=', 'shares.file_id')
      .where('shares.id', '=', id)
      .returning([
        copies(sql`(shares.bytes_served - ${served})`).as('before'),
        'shares.downloads as after',
      ])
      .executeTakeFirst()
  }

  /** Removes up to `limit` expired links; returns how many. */
  async deleteExpired(limit: number): Promise<number> {
    const result = await this.db
      .deleteFrom('shares')
      .where('id', 'in', (eb) =>
        eb.selectFrom('shares').select('id').where('expires_at', '<=', new Date()).limit(limit),
      )
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
