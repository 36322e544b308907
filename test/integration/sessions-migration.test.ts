import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { sql } from 'kysely'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Database, openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { migrate } from '../../src/infra/migrator.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'

const logger = createLogger('silent')
const MIGRATIONS = new URL('../../migrations/', import.meta.url)

let testDb: TestDatabase
let database: Database<unknown>
let dir: string
beforeAll(async () => {
  testDb = await createTestDatabase()
  database = await openDatabase({ url: testDb.url, dataDir: tmpdir(), logger })
  dir = await mkdtemp(join(tmpdir(), 'satchel-sessions-migration-'))
})
afterAll(async () => {
  await database.close()
  await testDb.drop()
  await rm(dir, { recursive: true, force: true })
})

/** Applies the repository's migrations numbered below `before`, or all of them. */
async function migrateUpTo(before?: string) {
  for (const file of await readdir(MIGRATIONS)) {
    if (before === undefined || file < before) {
      await copyFile(new URL(file, MIGRATIONS), join(dir, file))
    }
  }
  await migrate(database.db, logger, pathToFileURL(`${dir}/`))
}

it('0007 turns each family of refresh tokens into a session, revoked if any token was', async () => {
  await migrateUpTo('0007')
  const { db } = database
  const user = (
    await sql<{ id: string }>`insert into users (email, password_hash)
      values ('old@example.test', 'x') returning id`.execute(db)
  ).rows[0]!.id
  const live = '11111111-1111-4111-8111-111111111111'
  const revoked = '22222222-2222-4222-8222-222222222222'
  // The live family was rotated once; in the revoked one, a token slipped in after the
  // revocation (the old rotation race) and must die with its family.
  await sql`insert into refresh_tokens (family_id, user_id, token_hash, expires_at, used_at, revoked_at, created_at) values
    (${live}, ${user}, 'a1', now() + interval '1 day', '2024-01-02T00:00:00Z', null, '2024-01-01T00:00:00Z'),
    (${live}, ${user}, 'a2', now() + interval '1 day', null, null, '2024-01-02T00:00:00Z'),
    (${revoked}, ${user}, 'b1', now() + interval '1 day', '2024-02-02T00:00:00Z', '2024-02-03T00:00:00Z', '2024-02-01T00:00:00Z'),
    (${revoked}, ${user}, 'b2', now() + interval '1 day', null, null, '2024-02-04T00:00:00Z')`.execute(
    db,
  )

  await migrateUpTo()

  const sessions = await sql<{
    id: string
    user_id: string
    created_at: Date
    last_used_at: Date
    revoked_at: Date | null
  }>`select id, user_id, created_at, last_used_at, revoked_at from sessions order by id`.execute(db)
  expect(sessions.rows).toEqual([
    {
      id: live,
      user_id: user,
      created_at: new Date('2024-01-01T00:00:00Z'),
      last_used_at: new Date('2024-01-02T00:00:00Z'),
      revoked_at: null,
    },
    {
      id: revoked,
      user_id: user,
      created_at: new Date('2024-02-01T00:00:00Z'),
      last_used_at: new Date('2024-02-04T00:00:00Z'),
      revoked_at: new Date('2024-02-03T00:00:00Z'),
    },
  ])
  const tokens = await sql<{ session_id: string; token_hash: string }>`
    select session_id, token_hash from refresh_tokens order by token_hash`.execute(db)
  expect(tokens.rows.map((r) => [r.token_hash, r.session_id])).toEqual([
    ['a1', live],
    ['a2', live],
    ['b1', revoked],
    ['b2', revoked],
  ])
  // Deleting the account takes its sessions and their tokens with it.
  await sql`delete from users where id = ${user}`.execute(db)
  const left = await sql<{ n: number }>`select count(*)::int as n from refresh_tokens`.execute(db)
  expect(left.rows[0]!.n).toBe(0)
})
