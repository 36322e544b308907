import type { ExpressionBuilder, Kysely, Selectable } from 'kysely'
import type { DB, FilesTable } from '../schema.js'
import {
  type FileFilters,
  likeLiteral,
  type SortKey,
  type SortOrder,
  type TypeFilter,
} from './file-search.js'

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
  envelope: string | null
}

export interface Page {
  sort: SortKey
  order: SortOrder
  limit: number
  /** The sort value and id of the last row of the previous page. */
  after?: { value: string | number | Date; id: string }
}

/** Available and not expired: the only rows a reader may ever see. */
const isVisible = (eb: ExpressionBuilder<DB, 'files'>) =>
  eb.and([
    eb('status', '=', 'available'),
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', new Date())]),
  ])

function typeCondition(eb: ExpressionBuilder<DB, 'files'>, type: TypeFilter) {
  if ('exact' in type) return eb('content_type', '=', type.exact)
  const matches = type.prefixes.map((prefix) =>
    eb('content_type', 'like', `${likeLiteral(prefix)}%`),
  )
  if (type.exacts.length > 0) matches.push(eb('content_type', 'in', type.exacts))
  const any = eb.or(matches)
  return type.negate ? eb.not(any) : any
}

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
        envelope: content.envelope,
        updated_at: new Date(),
      })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst()
  }

  findVisibleById(id: string): Promise<FileRecord | undefined> {
    return this.visible().where('id', '=', id).selectAll().executeTakeFirst()
  }

  /** One page of a user's visible files matching every given filter, in keyset order. */
  search(ownerId: string, filters: FileFilters, page: Page): Promise<FileRecord[]> {
    const { q, type, uploadedAfter, uploadedBefore, minSize, maxSize } = filters
    let query = this.visible().where('owner_id', '=', ownerId).selectAll()
    if (q) query = query.where('name', 'ilike', `%${likeLiteral(q)}%`)
    if (type) query = query.where((eb) => typeCondition(eb, type))
    if (uploadedAfter) query = query.where('created_at', '>=', uploadedAfter)
    if (uploadedBefore) query = query.where('created_at', '<', uploadedBefore)
    if (minSize !== undefined) query = query.where('size', '>=', minSize)
    if (maxSize !== undefined) query = query.where('size', '<=', maxSize)
    const { sort, order, after } = page
    if (after) {
      // A row comparison, so the (owner, sort, id) index serves the page as one range scan.
      const direction = order === 'desc' ? '<' : '>'
      query = query.where((eb) =>
        eb(eb.refTuple(sort, 'id'), direction, eb.tuple(after.value, after.id)),
      )
    }
    return query.orderBy(sort, order).orderBy('id', order).limit(page.limit).execute()
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

  /** Hides a file at once; its blob and row are removed afterwards. False if not visible. */
  async markDeleted(ownerId: string, id: string): Promise<boolean> {
    const row = await this.db
      .updateTable('files')
      .set({ status: 'deleted', updated_at: new Date() })
      .where('owner_id', '=', ownerId)
      .where('id', '=', id)
      .where(isVisible)
      .executeTakeFirst()
    return row.numUpdatedRows > 0n
  }

  /**
   * Removes rows already marked deleted: their blobs first, then the rows whose blobs are
   * gone. The rows stay locked (SKIP LOCKED) meanwhile, so two workers — or a worker and
   * the request that deleted the file — never remove the same file twice. Rows whose blob
   * removal failed stay marked for the next sweep.
   */
  purgeDeleted(
    scope: { ids?: string[]; limit: number },
    removeBlob: (key: string) => Promise<void>,
  ): Promise<{ purged: string[]; failed: number }> {
    return this.db.transaction().execute(async (trx) => {
      let claim = trx
        .selectFrom('files')
        .select(['id', 'storage_key'])
        .where('status', '=', 'deleted')
        .orderBy('updated_at')
        .limit(scope.limit)
        .forUpdate()
        .skipLocked()
      if (scope.ids) claim = claim.where('id', 'in', scope.ids)
      const rows = await claim.execute()
      const purged: string[] = []
      for (const row of rows) {
        try {
          await removeBlob(row.storage_key)
          purged.push(row.id)
        } catch {
          // Left marked: retried on the next sweep.
        }
      }
      if (purged.length > 0) await trx.deleteFrom('files').where('id', 'in', purged).execute()
      return { purged, failed: rows.length - purged.length }
    })
  }

  /** Removes the row of an upload that failed before it became visible. */
  async removePending(id: string): Promise<void> {
    await this.db.deleteFrom('files').where('id', '=', id).where('status', '=', 'pending').execute()
  }

  async markPendingDeleted(id: string): Promise<void> {
    await this.db
      .updateTable('files')
      .set({ status: 'deleted', updated_at: new Date() })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute()
  }

  /** Encrypted files in id order, for re-wrapping their data keys after a key rotation. */
  envelopesAfter(afterId: string, limit: number) {
    return this.db
      .selectFrom('files')
      .select(['id', 'storage_key', 'envelope'])
      .where('envelope', 'is not', null)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute()
  }

  /** Swaps an envelope, unless someone changed it meanwhile. */
  async replaceEnvelope(id: string, previous: string, next: string): Promise<void> {
    await this.db
      .updateTable('files')
      .set({ envelope: next })
      .where('id', '=', id)
      .where('envelope', '=', previous)
      .execute()
  }

  private visible() {
    return this.db.selectFrom('files').where(isVisible)
  }
}
