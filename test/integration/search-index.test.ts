import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CompiledQuery, type Kysely, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FileFilters, parseTypeFilter, TYPE_CATEGORIES } from '../../src/files/file-search.js'
import {
  FilesRepository,
  type ListedFile,
  type Page,
  parseListedFile,
} from '../../src/files/files-repository.js'
import { type Database, openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { migrate } from '../../src/infra/migrator.js'
import type { DB } from '../../src/schema.js'
import { createTestDatabase } from '../helpers/databases.js'

const OWNER = '00000000-0000-4000-8000-000000000001'
const OTHER = '00000000-0000-4000-8000-000000000002'
/** Every other row is the owner's, so its rows lie on every page of the table, as in life. */
const FILES = 16_000
/** One word per name, each in a tenth of the names. */
const WORDS = [
  'invoice',
  'report',
  'photo',
  'contract',
  'budget',
  'receipt',
  'vacation',
  'project',
  'notes',
  'tax',
]
const TYPES = ['image/jpeg', 'image/png', 'application/pdf', 'text/plain', 'video/mp4']
const START = Date.UTC(2024, 0, 1)
const DAY_MS = 86_400_000
const SPAN_DAYS = 730
/** A page of 50 and one more row, as FilesService asks, to learn whether another follows. */
const PAGE_LIMIT = 51

const month = {
  uploadedAfter: new Date(START + 400 * DAY_MS),
  uploadedBefore: new Date(START + 430 * DAY_MS),
}
const halfYear = {
  uploadedAfter: new Date(START + 300 * DAY_MS),
  uploadedBefore: new Date(START + 480 * DAY_MS),
}

/** Seeded in SQL, as a bulk import would; some rows are hidden (deleted, or expired). */
async function seedFiles(db: Kysely<DB>) {
  await sql`insert into users (id, email, password_hash) values
    (${OWNER}, 'owner@search.test', 'x'), (${OTHER}, 'other@search.test', 'x')`.execute(db)
  await sql`
    insert into files (id, owner_id, name, size, content_type, sha256, storage_key, driver,
                       status, created_at, updated_at, expires_at)
    select md5('file-' || g)::uuid,
      (case when g % 2 = 0 then ${OWNER} else ${OTHER} end)::uuid,
      (${WORDS}::text[])[1 + (g / 2) % 10] || ' ' || g || '.bin',
      (g * 7919) % 1000 * 10000,
      (${TYPES}::text[])[1 + (g / 14) % 5],
      'x', 'blobs/' || g, 'local',
      case when g % 89 = 0 then 'deleted' else 'available' end,
      ${new Date(START).toISOString()}::timestamptz
        + g * ${(SPAN_DAYS * DAY_MS) / FILES}::float8 * interval '1 millisecond',
      now(),
      case when g % 97 = 0 then now() - interval '1 day' end
    from generate_series(1, ${FILES}) as g
  `.execute(db)
  // What autovacuum does after a bulk insert: until then no scan can skip the table.
  await sql`vacuum analyze files`.execute(db)
}

let lastQuery: CompiledQuery | undefined
function remember(sql: string, parameters: readonly unknown[]) {
  lastQuery = CompiledQuery.raw(sql, [...parameters])
}

async function postgres(): Promise<Database<DB>> {
  const testDb = await createTestDatabase()
  const database = await openDatabase<DB>({
    url: testDb.url,
    dataDir: tmpdir(),
    logger: createLogger('silent'),
    onQuery: remember,
  })
  return {
    ...database,
    async close() {
      await database.close()
      await testDb.drop()
    },
  }
}

async function pglite(): Promise<Database<DB>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'satchel-search-'))
  const database = await openDatabase<DB>({
    dataDir,
    logger: createLogger('silent'),
    onQuery: remember,
  })
  return {
    ...database,
    async close() {
      await database.close()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * How many rows of the files table one search read (by any scan, whether it kept them or
 * filtered them out), from the transaction's own table statistics.
 */
async function tableRowsRead(db: Kysely<DB>, filters: FileFilters, page: Page) {
  return db.transaction().execute(async (trx) => {
    const read = async () => {
      const { rows } = await sql<{ n: number }>`
        select (seq_tup_read + coalesce(idx_tup_fetch, 0))::int as n
        from pg_stat_xact_user_tables where relname = 'files'`.execute(trx)
      return rows[0]!.n
    }
    const before = await read()
    await new FilesRepository(trx).search(OWNER, filters, page)
    return (await read()) - before
  })
}

/**
 * How many index entries and table rows the scans of the files table in one search examined,
 * kept or filtered out: the search run again under EXPLAIN ANALYZE.
 */
async function entriesExamined(db: Kysely<DB>, filters: FileFilters, page: Page) {
  await new FilesRepository(db).search(OWNER, filters, page)
  const { sql: text, parameters } = lastQuery!
  const { rows } = await db.executeQuery<{ 'QUERY PLAN': unknown }>(
    CompiledQuery.raw(`explain (analyze, format json) ${text}`, [...parameters]),
  )
  const explained = rows[0]!['QUERY PLAN']
  const [{ Plan }] = (typeof explained === 'string' ? JSON.parse(explained) : explained) as [
    { Plan: PlanNode },
  ]
  const sum = (node: PlanNode): number =>
    (node['Relation Name'] === 'files'
      ? (node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0)) * node['Actual Loops']
      : 0) + (node.Plans ?? []).reduce((total, child) => total + sum(child), 0)
  return sum(Plan)
}

interface PlanNode {
  'Relation Name'?: string
  'Actual Rows': number
  'Actual Loops': number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

const newest: Page = { sort: 'created_at', order: 'desc', limit: PAGE_LIMIT }

describe.each([
  ['PostgreSQL', postgres],
  ['PGlite', pglite],
])('name searches on %s', (_, open) => {
  let database: Database<DB>
  let repo: FilesRepository
  beforeAll(async () => {
    database = await open()
    await migrate(database.db, createLogger('silent'))
    await seedFiles(database.db)
    repo = new FilesRepository(database.db)
  })
  afterAll(() => database.close())

  it.each<[string, FileFilters, Page]>([
    ['a common word, newest first', { q: 'invoice' }, newest],
    ['a common word, by name', { q: 'invoice' }, { sort: 'name', order: 'asc', limit: PAGE_LIMIT }],
    [
      'a common word with a category, a month and a minimum size',
      { q: 'invoice', type: parseTypeFilter('image'), ...month, minSize: 1_000_000 },
      newest,
    ],
  ])('for %s reads from the table only the rows of its page', async (_, filters, page) => {
    const { files } = await repo.search(OWNER, filters, page)
    expect(files.length).toBeGreaterThan(0)
    expect(await tableRowsRead(database.db, filters, page)).toBeLessThanOrEqual(page.limit)
  })

  it('puts every content type in the category the type filter promises', async () => {
    const categories: Record<string, string[]> = {
      image: ['image/png', 'image/svg+xml'],
      video: ['video/mp4'],
      audio: ['audio/mpeg'],
      document: [
        'text/plain',
        'text/csv',
        'application/pdf',
        'application/msword',
        'application/rtf',
        'application/vnd.ms-excel',
        'application/vnd.ms-powerpoint',
        'application/epub+zip',
        'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        'application/vnd.openxmlformats-officedocument.presentationml.presentation',
        'application/vnd.oasis.opendocument.text',
      ],
      archive: [
        'application/zip',
        'application/x-tar',
        'application/gzip',
        'application/x-gzip',
        'application/x-7z-compressed',
        'application/x-rar-compressed',
        'application/vnd.rar',
        'application/x-bzip2',
        'application/x-xz',
        'application/zstd',
      ],
      other: ['application/octet-stream', 'application/json', 'application/pdfx', 'imagex/png'],
    }
    const expected = Object.entries(categories).flatMap(([category, types]) =>
      types.map((type) => ({ type, category })),
    )
    const { rows } = await sql<{ type: string; category: string }>`
      select type, file_type_category(type) as category
      from unnest(${expected.map((e) => e.type)}::text[]) as type`.execute(database.db)
    expect(rows).toEqual(expected)
    expect(Object.keys(categories)).toEqual(TYPE_CATEGORIES)
  })

  // A word in a tenth of the names, a type or category in a fifth of the owner's files: a
  // page needs ~510 entries of that type, and ~2,550 of a walk through all the owner's files.
  it.each<[string, FileFilters]>([
    ['a category', { q: 'invoice', type: parseTypeFilter('video') }],
    ['an exact type', { q: 'invoice', type: parseTypeFilter('image/png') }],
  ])('a common word with %s walks only the files of that type', async (_, filters) => {
    const { files } = await repo.search(OWNER, filters, newest)
    expect(files).toHaveLength(PAGE_LIMIT)
    expect(await entriesExamined(database.db, filters, newest)).toBeLessThan(1000)
    expect(await tableRowsRead(database.db, filters, newest)).toBeLessThanOrEqual(PAGE_LIMIT)
  })

  const search = async (filters: FileFilters, page: Page) =>
    (await repo.search(OWNER, filters, page)).files.map(parseListedFile)

  /** Every page of a search, following the cursor the service would hand out. */
  async function walk(filters: FileFilters, sort: Page['sort'], order: Page['order']) {
    const seen: ListedFile[] = []
    let after: Page['after']
    for (;;) {
      const rows = await search(filters, { sort, order, limit: 50, after })
      seen.push(...rows)
      const last = rows.at(-1)
      if (rows.length < 50 || !last) return seen
      after = { value: sort === 'created_at' ? new Date(last.created_at) : last[sort], id: last.id }
    }
  }

  const searches: [string, FileFilters, (f: ListedFile) => boolean][] = [
    ['q in another case', { q: 'INVOICE' }, (f) => f.name.startsWith('invoice ')],
    [
      'q, a category and a size',
      { q: 'voic', type: parseTypeFilter('image'), minSize: 1_000_000 },
      (f) => f.name.includes('voic') && f.content_type.startsWith('image/') && f.size >= 1_000_000,
    ],
    [
      'q and half a year',
      { q: 'tax', ...halfYear },
      (f) =>
        f.name.includes('tax') &&
        f.created_at >= halfYear.uploadedAfter.toISOString() &&
        f.created_at < halfYear.uploadedBefore.toISOString(),
    ],
  ]

  it.each(
    searches.flatMap(([label, filters, keep]) =>
      (['created_at', 'name', 'size'] as const).flatMap((sort) =>
        (['asc', 'desc'] as const).map((order) => [label, sort, order, filters, keep] as const),
      ),
    ),
  )(
    '%s, by %s %s: the visible matches in list order, each once',
    async (_, sort, order, filters, keep) => {
      // The unfiltered list in the same order, whose collation is the database's.
      const list = await search({}, { sort, order, limit: FILES })
      const expected = list.filter(keep).map((f) => f.id)
      expect(expected.length).toBeGreaterThan(50)
      expect((await walk(filters, sort, order)).map((f) => f.id)).toEqual(expected)
    },
  )
})
