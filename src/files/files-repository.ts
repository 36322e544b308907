import { type ExpressionBuilder, type Kysely, type Selectable, sql } from 'kysely'
import { QueryShapes } from '../infra/query-shapes.js'
import type { DB, FilesTable } from '../schema.js'
import {
  type FileFilters,
  likeLiteral,
  type SortKey,
  type SortOrder,
  type TypeCategory,
} from './file-search.js'
import { releaseUsage } from './quota-repository.js'

/** A file as readers see it; the lease and the quota reservation are the workers' business. */
export type FileRecord = Omit<
  Selectable<FilesTable>,
  'lease_until' | 'reserved_bytes' | 'name_folded'
>

const FILE_COLUMNS = [
  'id',
  'owner_id',
  'name',
  'size',
  'content_type',
  'claimed_content_type',
  'sha256',
  'storage_key',
  'driver',
  'status',
  'created_at',
  'updated_at',
  'expires_at',
  'envelope',
] as const satisfies readonly (keyof FileRecord)[]

/** A file as lists show it: FileObject of the API without its url. */
export interface ListedFile {
  id: string
  name: string
  size: number
  content_type: string
  sha256: string
  created_at: string
  updated_at: string
  expires_at: string | null
}

/**
 * A page of files as the API writes them, each its JSON object up to its signed URL, which is
 * the server's to add: `{"id":"…",…,"expires_at":…,"url":` (see FILE_JSON).
 */
export interface ListedPage {
  files: string[]
  /** The same files' ids, ID_BYTES each, in order: what signing their URLs reads. */
  ids: Uint8Array
  /** When the first of them expires (ms since the epoch); null if none does. */
  firstExpiry: number | null
}

const PAGE_COLUMNS = [
  'id',
  'name',
  'size',
  'content_type',
  'sha256',
  'created_at',
  'updated_at',
  'expires_at',
] as const

// ISO 8601 in UTC with milliseconds, cut rather than rounded as a Date parsed from it would be.
const isoText = (column: 'created_at' | 'updated_at' | 'expires_at') =>
  sql`to_char(${sql.ref(`page.${column}`)} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * A row of the derived table `page` as the JSON text of ListedFile, its fields in the order
 * of the API's FileObject, then `"url":`. PostgreSQL escapes strings in JSON as
 * JSON.stringify does (the same short escapes, \u00XX for other control characters, nothing
 * else), so the text is what rendering the row in Node gave; the row is never parsed into
 * an object there, which cost more CPU than all else a page from the database needs.
 * One concat() rather than a chain of || that copies the text so far at each step.
 */
const FILE_JSON = sql<string>`concat(
  '{"id":"', page.id,
  '","name":', to_json(page.name),
  ',"size":', page.size,
  ',"content_type":', to_json(page.content_type),
  ',"sha256":', to_json(coalesce(page.sha256, '')),
  ',"created_at":"', ${isoText('created_at')},
  '","updated_at":"', ${isoText('updated_at')},
  '","expires_at":', coalesce('"' || ${isoText('expires_at')} || '"', 'null'),
  ',"url":')`

// Joins a page's files (chr(1) in SQL): JSON text holds no raw control character.
const FILE_SEPARATOR = '\x01'

/** The length of a file id (a UUID) in ListedPage.ids. */
export const ID_BYTES = 16

/** ListedPage.files[i] up to its id's end: `{"id":"` and 36 characters. */
export const listedFileId = (file: string) => file.slice(7, 43)

/** A file of ListedPage.files as an object. */
export const parseListedFile = (file: string): ListedFile => JSON.parse(`${file}null}`)

export interface NewFile {
  id: string
  ownerId: string
  name: string
  storageKey: string
  driver: string
  claimedContentType: string | null
  expiresAt: Date | null
  /** Until when the uploader holds the row; renewed while its bytes stream. */
  leaseUntil: Date
}

export interface StoredContent {
  size: number
  sha256: string
  contentType: string
  envelope: string | null
}

/** A deleted row claimed for blob removal. */
export interface ClaimedBlob {
  id: string
  storage_key: string
}

export interface Page {
  sort: SortKey
  order: SortOrder
  limit: number
  /** The sort value and id of the last row of the previous page. */
  after?: { value: string | number | Date; id: string }
}

/**
 * Available and not expired at `now`: the only rows a reader may ever see. The status is
 * written into the SQL, not passed as a value: a plan made for any values (a prepared list
 * page's) could otherwise use none of the indexes kept for available files only.
 */
const visibleAt = (now: Date) => (eb: ExpressionBuilder<DB, 'files'>) =>
  eb.and([
    eb('status', '=', sql.lit('available')),
    eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]),
  ])

const isVisible = (eb: ExpressionBuilder<DB, 'files'>) => visibleAt(new Date())(eb)

/** What a search page's query returns: one row, its files' text null if there are none. */
type PageRow = { files: string | null; ids: Uint8Array | null; first_expiry: number | null }

/** The values of a search page's query; its choices fix the rest (see QueryShapes). */
type MatchValues = {
  ownerId: string
  now: Date
  typeExact: string | undefined
  /** A LIKE pattern of a type prefix. */
  typePattern: string | undefined
  typeCategory: TypeCategory | undefined
  uploadedAfter: Date | undefined
  uploadedBefore: Date | undefined
  minSize: number | undefined
  maxSize: number | undefined
  /** A LIKE pattern for the name, any case: the database lowers it as it lowers names. */
  namePattern: string | undefined
  afterValue: string | number | Date | undefined
  afterId: string | undefined
}

/** A page's size is written into its SQL: see plannedOnce. */
type MatchChoices = { sort: SortKey; order: SortOrder; limit: number }

const prefixPattern = (prefix: string) => `${likeLiteral(prefix)}%`

const filtersType = (v: MatchValues) =>
  v.typeExact !== undefined || v.typePattern !== undefined || v.typeCategory !== undefined

/** Called only where filtersType(v). */
function typeCondition(eb: ExpressionBuilder<DB, 'files'>, v: MatchValues) {
  if (v.typeExact !== undefined) return eb('content_type', '=', v.typeExact)
  if (v.typePattern !== undefined) return eb('content_type', 'like', v.typePattern)
  // Written as the index on it is (migrations/0017), so PostgreSQL can walk that index.
  return eb(sql<string>`file_type_category(content_type)`, '=', v.typeCategory!)
}

/**
 * Whether a page's query is planned once per connection (a prepared statement) rather than
 * for every page: planning took about as long as running a 50-row page of a plain list
 * (0.12–0.16 ms each, EXPLAIN ANALYZE). Only where the values cannot change the best plan:
 * no name or type filter, and ranges on the sort column alone, so the (owner, sort, id)
 * index answers every page with one range scan. A name search's best plan depends on how
 * many names match, and a one-size-fits-all plan for it is what search must never get.
 * PostgreSQL settles on one plan for any values only when it costs no more than those it
 * made for the values given: with the LIMIT a value too, it guessed a tenth of the rows
 * and kept planning every page, so the page size is written into the SQL.
 */
function plannedOnce(v: MatchValues, { sort }: MatchChoices): boolean {
  if (v.namePattern !== undefined) return false
  if (filtersType(v)) return false
  const dates = v.uploadedAfter !== undefined || v.uploadedBefore !== undefined
  const sizes = v.minSize !== undefined || v.maxSize !== undefined
  return (!dates || sort === 'created_at') && (!sizes || sort === 'size')
}

export class FilesRepository {
  private readonly pages: QueryShapes<MatchValues, MatchChoices, PageRow>

  constructor(private readonly db: Kysely<DB>) {
    this.pages = new QueryShapes(
      db,
      (values, choices) => this.searchPage(values, choices),
      plannedOnce,
    )
  }

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
        lease_until: file.leaseUntil,
      })
      .execute()
  }

  /** Extends the uploader's hold on rows still pending; returns how many it still holds. */
  async renewLeases(ids: string[], until: Date): Promise<number> {
    if (ids.length === 0) return 0
    const result = await this.db
      .updateTable('files')
      .set({ lease_until: until })
      .where('id', 'in', ids)
      .where('status', '=', 'pending')
      .executeTakeFirst()
    return Number(result.numUpdatedRows)
  }

  /**
   * Makes every file of one upload visible at once, or none: each row must still be pending
   * (not reaped by the sweeper meanwhile). Returns undefined, having changed nothing, if
   * one was not.
   */
  commitUploads(
    uploads: { id: string; content: StoredContent }[],
  ): Promise<FileRecord[] | undefined> {
    return this.db
      .transaction()
      .execute(async (trx) => {
        const now = new Date()
        const files: FileRecord[] = []
        const overReserved: { ownerId: string; bytes: number }[] = []
        for (const { id, content } of uploads) {
          const file = await trx
            .updateTable('files')
            .set({
              status: 'available',
              size: content.size,
              sha256: content.sha256,
              content_type: content.contentType,
              envelope: content.envelope,
              updated_at: now,
              lease_until: null,
            })
            .where('id', '=', id)
            .where('status', '=', 'pending')
            .returning([...FILE_COLUMNS, 'reserved_bytes'])
            .executeTakeFirst()
          if (!file) throw new LostPendingRow()
          const { reserved_bytes, ...visible } = file
          files.push(visible)
          // The reservation ran ahead of the bytes; the file now counts its size.
          overReserved.push({ ownerId: file.owner_id, bytes: reserved_bytes - file.size })
        }
        await releaseUsage(trx, overReserved)
        return files
      })
      .catch((err: unknown) => {
        if (err instanceof LostPendingRow) return undefined
        throw err
      })
  }

  /** The rows as they are now, whatever their status (to learn what a lost reply did). */
  findByIds(ids: string[]): Promise<FileRecord[]> {
    if (ids.length === 0) return Promise.resolve([])
    return this.db.selectFrom('files').select(FILE_COLUMNS).where('id', 'in', ids).execute()
  }

  findVisibleById(id: string): Promise<FileRecord | undefined> {
    return this.visible().where('id', '=', id).select(FILE_COLUMNS).executeTakeFirst()
  }

  /** One page of a user's visible files matching every given filter, in keyset order. */
  async search(ownerId: string, filters: FileFilters, page: Page): Promise<ListedPage> {
    const { type } = filters
    const [row] = await this.pages.execute(
      {
        ownerId,
        now: new Date(),
        typeExact: type && 'exact' in type ? type.exact : undefined,
        typePattern: type && 'prefix' in type ? prefixPattern(type.prefix) : undefined,
        typeCategory: type && 'category' in type ? type.category : undefined,
        uploadedAfter: filters.uploadedAfter,
        uploadedBefore: filters.uploadedBefore,
        minSize: filters.minSize,
        maxSize: filters.maxSize,
        namePattern: filters.q ? `%${likeLiteral(filters.q)}%` : undefined,
        afterValue: page.after?.value,
        afterId: page.after?.id,
      },
      {
        sort: page.sort,
        order: page.order,
        limit: page.limit,
      },
    )
    return {
      files: row?.files ? row.files.split(FILE_SEPARATOR) : [],
      ids: row?.ids ?? new Uint8Array(0),
      firstExpiry: row?.first_expiry ?? null,
    }
  }

  /** The query of a search page, built once per shape (see QueryShapes). */
  private searchPage(v: MatchValues, c: MatchChoices) {
    const matching = this.matching(v, c)
    // A name substring is checked row by row along the scan. The covering indexes
    // (migrations/0016) hold every column it and the other filters read, so selecting only
    // ids lets that scan skip the table; the table is then read for the page's rows only.
    const rows =
      v.namePattern === undefined
        ? matching.select(PAGE_COLUMNS)
        : this.db.selectFrom('files').select(PAGE_COLUMNS).where('id', 'in', matching.select('id'))
    // The rows become text out here, for the page's rows only: in the select list of a query
    // that sorts, they would be rendered for every row it sorts. One row of one text, rather
    // than a row per file, is what the database client parses.
    const order = sql.raw(c.order)
    const pageOrder = sql`order by ${sql.ref(`page.${c.sort}`)} ${order}, page.id ${order}`
    return this.db.selectFrom(rows.as('page')).select([
      sql<string | null>`string_agg(${FILE_JSON}, chr(1) ${pageOrder})`.as('files'),
      // Their bytes, as the database holds them, for signing (SignedUrls.pageUrls).
      sql<Uint8Array | null>`string_agg(uuid_send(page.id), ''::bytea ${pageOrder})`.as('ids'),
      sql<number | null>`floor(extract(epoch from min(page.expires_at)) * 1000)::float8`.as(
        'first_expiry',
      ),
    ])
  }

  /** The visible rows of one page of matches, in keyset order, with nothing selected yet. */
  private matching(v: MatchValues, { sort, order, limit }: MatchChoices) {
    let query = this.db
      .selectFrom('files')
      .where(visibleAt(v.now))
      .where('owner_id', '=', v.ownerId)
    if (filtersType(v)) query = query.where((eb) => typeCondition(eb, v))
    if (v.uploadedAfter !== undefined) query = query.where('created_at', '>=', v.uploadedAfter)
    if (v.uploadedBefore !== undefined) query = query.where('created_at', '<', v.uploadedBefore)
    if (v.minSize !== undefined) query = query.where('size', '>=', v.minSize)
    if (v.maxSize !== undefined) query = query.where('size', '<=', v.maxSize)
    // Last: among conditions of equal estimated cost PostgreSQL keeps this order, and the
    // substring match costs more per row than the comparisons above. `name ILIKE p` is
    // `lower(name) LIKE lower(p)` in a UTF-8 database, but lowers both on every row it
    // checks, which cost more than the rest of a name search's scan; the name is stored
    // lowered (migrations/0016), and the pattern is lowered once, when the query is planned.
    if (v.namePattern !== undefined)
      query = query.where('name_folded', 'like', sql<string>`lower(${v.namePattern})`)
    const { afterValue, afterId } = v
    if (afterValue !== undefined && afterId !== undefined) {
      // A row comparison, so the (owner, sort, id) index serves the page as one range scan.
      const direction = order === 'desc' ? '<' : '>'
      query = query.where((eb) =>
        eb(eb.refTuple(sort, 'id'), direction, eb.tuple(afterValue, afterId)),
      )
    }
    // Qualified: an unqualified ORDER BY would name the selected text of the same name.
    return query.orderBy(`files.${sort}`, order).orderBy('files.id', order).limit(sql.lit(limit))
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
      .returning(FILE_COLUMNS)
      .executeTakeFirst()
  }

  /**
   * Hides a file at once, and stops counting it against its owner's quota; its blob and row
   * are removed afterwards. False if not visible.
   */
  markDeleted(ownerId: string, id: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('files')
        .set({ status: 'deleted', updated_at: new Date() })
        .where('owner_id', '=', ownerId)
        .where('id', '=', id)
        .where(isVisible)
        .returning('size')
        .executeTakeFirst()
      if (!row) return false
      await releaseUsage(trx, [{ ownerId, bytes: row.size }])
      return true
    })
  }

  /**
   * Gives up on pending rows of a failed upload: they become deleted, unleased, so their
   * blobs may be removed. Only rows still pending are taken, so bytes a committed row
   * refers to are never given up, whatever a lost reply left. Returns the ids taken.
   */
  async abandonPending(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return []
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .updateTable('files')
        .set({ status: 'deleted', lease_until: null, updated_at: new Date() })
        .where('id', 'in', ids)
        .where('status', '=', 'pending')
        .returning(['id', 'owner_id', 'reserved_bytes'])
        .execute()
      await releaseUsage(
        trx,
        rows.map((row) => ({ ownerId: row.owner_id, bytes: row.reserved_bytes })),
      )
      return rows.map((row) => row.id)
    })
  }

  /**
   * Leases up to `limit` deleted rows whose blobs nobody is removing (no lease, or a lapsed
   * one), and commits: the blob removal then runs with no transaction open, and no other
   * worker takes these rows until `until`.
   */
  claimDeleted(scope: { ids?: string[]; limit: number }, until: Date): Promise<ClaimedBlob[]> {
    const now = new Date()
    return this.db
      .updateTable('files')
      .set({ lease_until: until })
      .where('id', 'in', (eb) => {
        let claim = eb
          .selectFrom('files')
          .select('id')
          .where('status', '=', 'deleted')
          .where((w) => w.or([w('lease_until', 'is', null), w('lease_until', '<', now)]))
          .orderBy('updated_at')
          .limit(scope.limit)
          .forUpdate()
          .skipLocked()
        if (scope.ids) claim = claim.where('id', 'in', scope.ids)
        return claim
      })
      .returning(['id', 'storage_key'])
      .execute()
  }

  /** Deletes deleted rows whose blobs are gone. */
  async removeDeleted(ids: string[]): Promise<void> {
    if (ids.length === 0) return
    await this.db
      .deleteFrom('files')
      .where('id', 'in', ids)
      .where('status', '=', 'deleted')
      .execute()
  }

  /** Lets another worker retry these rows now, rather than when the lease lapses. */
  async releaseClaims(ids: string[]): Promise<void> {
    if (ids.length === 0) return
    await this.db
      .updateTable('files')
      .set({ lease_until: null })
      .where('id', 'in', ids)
      .where('status', '=', 'deleted')
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

/** Rolls back commitUploads when one of its rows is no longer pending. */
class LostPendingRow extends Error {}
