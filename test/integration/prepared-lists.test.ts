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

    const { rows } = await sql<{ statement: string; generic_plans: number; custom_plans: number }>`
      select statement, generic_plans::int, custom_plans::int from pg_prepared_statements
    `.execute(t.database.db)
    const statements = rows.map((row) => row.statement)
    // The first page, the page after a cursor, the date range and the size range.
    expect(statements).toHaveLength(4)
    for (const statement of statements) {
      expect(statement).toMatch(/^\/\* prepared \*\/ /)
      expect(statement).not.toContain('name_folded')
      expect(statement).not.toContain('content_type" like')
      // The status is in the text, so a plan for any values may use the partial indexes.
      expect(statement).toContain(`"status" = 'available'`)
    }
    // Planned once, for any values: never again for the values of a page.
    for (const row of rows) expect([row.generic_plans, row.custom_plans]).toEqual([1, 0])
  })
})
