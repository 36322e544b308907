import { readdir, readFile } from 'node:fs/promises'
import { type Kysely, sql } from 'kysely'
import type { Logger } from './logger.js'

const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url)
// Any constant works; it only has to be the same for every instance of Satchel.
const MIGRATION_LOCK_ID = 7_251_031_001
/**
 * A file may end with one statement that no transaction may hold (VACUUM) below this line;
 * the instance that applied the file runs it once the file's transaction has committed. It
 * is skipped if that instance stops in between, so it may only make things faster.
 */
const AFTER_COMMIT = /^-- after commit$/m

/**
 * Applies the numbered SQL files in migrations/ that have not run yet, each in its own
 * transaction. Every transaction first takes one advisory lock, so instances starting
 * together apply each file exactly once: the second waits, then finds it recorded.
 */
export async function migrate(
  // biome-ignore lint/suspicious/noExplicitAny: the migrator touches only its own table
  db: Kysely<any>,
  logger: Logger,
  dir: URL = MIGRATIONS_DIR,
): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[\w-]+\.sql$/.test(f)).sort()
  const applied: string[] = []
  for (const file of files) {
    const [text = '', afterCommit, ...more] = (await readFile(new URL(file, dir), 'utf8')).split(
      AFTER_COMMIT,
    )
    // A second part after the commit would otherwise be dropped without a word.
    if (more.length > 0) throw new Error(`${file}: more than one "-- after commit" line`)
    const ran = await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_ID})`.execute(trx)
      await sql`create table if not exists schema_migrations (
        version text primary key,
        applied_at timestamptz not null default now()
      )`.execute(trx)
      const done = await sql`select 1 from schema_migrations where version = ${file}`.execute(trx)
      if (done.rows.length > 0) return false
      await sql.raw(text).execute(trx)
      await sql`insert into schema_migrations (version) values (${file})`.execute(trx)
      return true
    })
    if (ran) {
      if (afterCommit !== undefined) await sql.raw(afterCommit).execute(db)
      applied.push(file)
      logger.info({ migration: file }, 'migration applied')
    }
  }
  return applied
}
