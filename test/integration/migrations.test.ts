import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { sql } from 'kysely'
import { afterEach, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { migrate } from '../../src/infra/migrator.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'

const logger = createLogger('silent')
const cleanups: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function freshDatabase() {
  const testDb: TestDatabase = await createTestDatabase()
  cleanups.push(testDb.drop)
  const database = await openDatabase({ url: testDb.url, dataDir: tmpdir(), logger })
  cleanups.push(database.close)
  return database
}

/** A migrations directory holding `files` (name → SQL), removed after the test. */
async function migrationsDir(files: Record<string, string>): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), 'satchel-migrations-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text)
  return pathToFileURL(`${dir}/`)
}

const tables = async (db: Awaited<ReturnType<typeof freshDatabase>>['db']) =>
  (
    await sql<{
      tablename: string
    }>`select tablename from pg_tables where schemaname = 'public'`.execute(db)
  ).rows
    .map((r) => r.tablename)
    .sort()

describe('migrations', () => {
  it('build the schema on an empty database, and a re-run applies nothing', async () => {
    const { db } = await freshDatabase()
    const first = await migrate(db, logger)
    expect(first[0]).toBe('0001_users.sql')
    expect(await tables(db)).toEqual(
      expect.arrayContaining(['refresh_tokens', 'schema_migrations', 'users']),
    )
    expect(await migrate(db, logger)).toEqual([])
  })

  it('apply each file once when two instances migrate at the same moment', async () => {
    const a = await freshDatabase()
    // Each migrate() call takes its own pooled connections, as separate instances would.
    const results = await Promise.all([
      migrate(a.db, logger),
      migrate(a.db, logger),
      migrate(a.db, logger),
    ])
    const applied = results.flat()
    expect(new Set(applied).size).toBe(applied.length)
    const rows = await sql<{ n: number }>`select count(*)::int as n from schema_migrations`.execute(
      a.db,
    )
    expect(rows.rows[0]?.n).toBe(applied.length)
  })

  it('run what follows "-- after commit" once the file has committed', async () => {
    const { db } = await freshDatabase()
    // VACUUM fails inside a transaction block.
    const dir = await migrationsDir({
      '0001_vacuumed.sql': 'create table vacuumed (id int);\n-- after commit\nvacuum vacuumed;\n',
    })
    expect(await migrate(db, logger, dir)).toEqual(['0001_vacuumed.sql'])
    const { rows } = await sql<{ vacuumed: boolean }>`
      select last_vacuum is not null as vacuumed
      from pg_stat_user_tables where relname = 'vacuumed'`.execute(db)
    expect(rows[0]?.vacuumed).toBe(true)
    expect(await migrate(db, logger, dir)).toEqual([])
  })

  it('refuse a file with two "-- after commit" lines, applying none of it', async () => {
    const { db } = await freshDatabase()
    const dir = await migrationsDir({
      '0001_twice.sql':
        'create table twice (id int);\n-- after commit\nvacuum twice;\n-- after commit\nanalyze twice;\n',
    })
    await expect(migrate(db, logger, dir)).rejects.toThrow(
      /0001_twice\.sql: more than one "-- after commit" line/,
    )
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_tables where tablename = 'twice'`.execute(db)
    expect(rows[0]?.n).toBe(0)
  })

  it('roll back a failing migration completely and report it', async () => {
    const { db } = await freshDatabase()
    const dir = await migrationsDir({
      '0001_good.sql': 'create table good (id int);',
      '0002_bad.sql': 'create table half (id int); select * from missing_table;',
    })
    await expect(migrate(db, logger, dir)).rejects.toThrow(/missing_table/)
    expect(await tables(db)).toEqual(['good', 'schema_migrations'])
  })
})
