import type { ExpressionBuilder, Kysely, Selectable } from 'kysely'
import type { DB, FilesTable } from '../schema.js'

export type FileRecord = Selectable<FilesTable>

export interface NewFile {
  id: string
  ownerId: string
  name: string
  storageKey: string
  driver: string
  claimedContentType: string | null
  expiresAt: Date | null
}

export interface StoredContent {
  size: number
  sha256: string
  contentType: string
}

export interface Page {
  limit: number
  after?: { createdAt: Date; id: string }
}

/** Available and not expired: the only rows a reader may ever see. */
const isVisible = (eb: ExpressionBuilder<DB, 'files'>) =>
  eb.and([
    eb('status', '=', 'available'),
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]),
  ])

export class FilesRepository {
  constructor(private readonly db: Kysely<DB>) {}

  async insertPending(file: NewFile): Promise<void> {
    const now = new Date()
    await this.db
      .insertInto('files')
      .values({
        id: file.id,
        owner_id: file.ownerId,
        name: file.name,
        storage_key: file.storageKey,
        driver: file.driver,
        claimed_content_type: file.claimedContentType,
        status: 'pending',
        // Millisecond precision, set here, so keyset cursors built from JS Dates are exact.
        created_at: now,
        updated_at: now,
        expires_at: file.expiresAt,
      })
      .execute()
  }

  /** Flips a pending row to available once its bytes are durable. */
  markAvailable(id: string, content: StoredContent): Promise<FileRecord | undefined> {
    return this.db
      .updateTable('files')
      .set({
        status: 'available',
        size: content.size,
        sha256: content.sha256,
        content_type: content.contentType,
        updated_at: new Date(),
      })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst()
  }

  /** A file its owner can see: available and not expired. */
  findVisible(ownerId: string, id: string): Promise<FileRecord | undefined> {
    return this.visible()
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .selectAll()
      .executeTakeFirst()
  }

  findVisibleById(id: string): Promise<FileRecord | undefined> {
    return this.visible().where('id', '=', id).selectAll().executeTakeFirst()
  }

  listVisible(ownerId: string, page: Page): Promise<FileRecord[]> {
    let query = this.visible().where('owner_id', '=', ownerId).selectAll()
    if (page.after) {
      const { createdAt, id } = page.after
      query = query.where((eb) =>
        eb.or([
          eb('created_at', '<', createdAt),
          eb.and([eb('created_at', '=', createdAt), eb('id', '<', id)]),
        ]),
      )
    }
    return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.limit).execute()
  }

  update(
    ownerId: string,
    id: string,
    changes: { name?: string; expires_at?: Date | null },
  ): Promise<FileRecord | undefined> {
    return this.db
      .updateTable('files')
      .set({ ...changes, updated_at: new Date() })
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .where(isVisible)
      .returningAll()
      .executeTakeFirst()
  }

  /** Hides a file at once; its blob and row are removed afterwards. Returns its storage key. */
  async markDeleted(ownerId: string, id: string): Promise<string | undefined> {
    const row = await this.db
      .updateTable('files')
      .set({ status: 'deleted', updated_at: new Date() })
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .where(isVisible)
      .returning('storage_key')
      .executeTakeFirst()
    return row?.storage_key
  }

  async remove(id: string): Promise<void> {
    await this.db.deleteFrom('files').where('id', '=', id).execute()
  }

  private visible() {
    return this.db.selectFrom('files').where(isVisible)
  }
}
