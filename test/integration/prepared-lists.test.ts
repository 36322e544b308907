import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

describe('list pages as prepared statements', () => {
  let t: TestApp
  let user: TestUser
  beforeAll(async () => {
    // One connection, so the statements it prepared are the ones the test reads back.
    t = await buildTestApp({ DATABASE_POOL_SIZE: '1' })
    user = await signUp(t.app)
    for (const name of ['a.txt', 'b.txt', 'c.txt']) {
      await injectUpload(t.app, user, name, Buffer.from(name))
    }
  })
  afterAll(() => t.close())

  const preparedStatements = async () => {
    const { rows } = await sql<{ statement: string; generic_plans: number }>`
      select statement, generic_plans::int from pg_prepared_statements
    `.execute(t.database.db)
    return rows
  }

  const list = async (query: string) => {
    const reply = await t.app.inject({ url: `/files?${query}`, headers: user.auth })
    expect(reply.statusCode, reply.body).toBe(200)
    return reply.json<{ items: { name: string }[]; next_cursor: string | null }>()
  }

  it('prepares the plain pages and those in a range of their sort, never a name or type search', async () => {
    const first = await list('limit=2')
    expect(first.items.map((file) => file.name)).toEqual(['c.txt', 'b.txt'])
    const rest = await list(`limit=2&cursor=${first.next_cursor}`)
    expect(rest.items.map((file) => file.name)).toEqual(['a.txt'])
    await list(`uploaded_before=${new Date(Date.now() + 60_000).toISOString()}`)
    await list('sort=size&min_size=1')
    expect((await list('q=b')).items.map((file) => file.name)).toEqual(['b.txt'])
    await list('type=document')
    await list('sort=name&uploaded_after=2020-01-01T00:00:00Z')

    const statements = await preparedStatements()
    // The first page, the page after a cursor, the date range and the size range.
    expect(statements).toHaveLength(4)
    for (const { statement } of statements) {
      expect(statement).toMatch(/^\/\* prepared \*\/ /)
      expect(statement).not.toContain('name_folded')
      expect(statement).not.toContain('content_type" like')
      // The status is in the text, so a plan for any values may use the partial indexes.
      expect(statement).toContain(`"status" = 'available'`)
    }
  })

  it('settles on one plan for any values after a few pages, over a list of many files', async () => {
    // Enough rows that a plan for any page size would look costlier than one for 8 rows.
    await sql`
      insert into files (id, owner_id, name, size, content_type, storage_key, driver, status,
        created_at, updated_at)
      select gen_random_uuid(), ${user.id}, 'seeded-' || g, 1, 'text/plain', 'seeded-' || g,
        'local', 'available', now() - g * interval '1 minute', now()
      from generate_series(1, 20000) g`.execute(t.database.db)
    await sql`analyze files`.execute(t.database.db)
    // Pages of other date ranges: the list cache holds none of them.
    for (let day = 1; day <= 8; day++) {
      await list(`uploaded_after=2020-01-0${day}T00:00:00Z&limit=7`)
    }
    const ranged = (await preparedStatements()).filter(({ statement }) =>
      statement.includes('"created_at" >='),
    )
    expect(ranged.map((row) => row.generic_plans > 0)).toEqual([true])
  })

  it('keeps at most 64 named statements on a connection; pages past them still answer', async () => {
    for (let limit = 1; limit <= 70; limit++) {
      expect((await list(`limit=${limit}`)).items).toHaveLength(limit)
    }
    expect(await preparedStatements()).toHaveLength(64)
  })
})
