import fastJson from 'fast-json-stringify'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ListResponse } from '../../src/http/routes/files/list-files.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'
import { injectUpload } from '../helpers/files.js'

// The database writes a list page's timestamps itself (FilesRepository.search); these tests
// hold its text to what GET /files/:id, which formats a Date, says of the same file.
describe('a list page as the API writes it', () => {
  let database: TestDatabase
  let t: TestApp
  let user: TestUser
  const names = ['plain.txt', 'quote " and back\\slash.txt', 'ünïcødé — 文件 📄.txt']
  const ids: string[] = []

  beforeAll(async () => {
    database = await createTestDatabase()
    // A session time zone 13 h 45 min from UTC: the text must not depend on it.
    const url = `${database.url}?options=${encodeURIComponent('-c timezone=Pacific/Chatham')}`
    t = await buildTestApp({ DATABASE_URL: url })
    user = await signUp(t.app)
    for (const name of names) {
      const { id } = await injectUpload(t.app, user, 'upload.txt', Buffer.from(name))
      await sql`update files set name = ${name} where id = ${id}`.execute(t.database.db)
      ids.push(id)
    }
    // Microseconds, as rows written by SQL's now() carry: the API shows milliseconds, cut.
    await sql`update files set created_at = '2031-05-06 07:08:09.123456+00',
      updated_at = '2031-05-06 07:08:10.999999+00', expires_at = '2032-01-01 00:00:00.0009+00'
      where id = ${ids[1]}`.execute(t.database.db)
  })
  afterAll(async () => {
    await t.close()
    await database.drop()
  })

  it('shows each file exactly as GET /files/:id does, in UTC with milliseconds', async () => {
    const listed = await t.app.inject({ url: '/files', headers: user.auth })
    expect(listed.statusCode).toBe(200)
    const items = listed.json<{ items: Record<string, unknown>[] }>().items
    expect(items.map((item) => item.name).sort()).toEqual([...names].sort())
    for (const item of items) {
      const one = await t.app.inject({ url: `/files/${item.id}`, headers: user.auth })
      expect(item).toEqual(one.json())
    }
    const changed = items.find((item) => item.id === ids[1])
    expect(changed).toMatchObject({
      created_at: '2031-05-06T07:08:09.123Z',
      updated_at: '2031-05-06T07:08:10.999Z',
      expires_at: '2032-01-01T00:00:00.000Z',
    })
  })

  it('is byte for byte what the response schema’s serializer writes', async () => {
    const listed = await t.app.inject({ url: '/files?sort=name&order=asc', headers: user.auth })
    expect(listed.body).toBe(fastJson(ListResponse)(listed.json()))
  })
})

// The database writes each listed file's JSON (FilesRepository.search): held here, byte for
// byte, to JSON.stringify of what GET /files/:id says of the same files, whatever they hold.
interface Awkward {
  name: string
  size?: number
  sha256?: null
  type?: string
  expires?: string
}
const CONTROLS = Array.from({ length: 31 }, (_, i) => String.fromCharCode(i + 1)).join('')
const AWKWARD: Awkward[] = [
  { name: 'quote " back\\slash /slash' },
  { name: `controls ${CONTROLS}` },
  { name: 'del \x7f, separators \u2028\u2029, bom \ufeff', size: 0 },
  { name: 'e\u0301 ünïcødé — 文件 📄 𝄞', size: Number.MAX_SAFE_INTEGER },
  { name: '{"id":"x","url":"</script><script>', sha256: null },
  { name: 'long '.repeat(60), type: 'text/plain; charset="utf-8"' },
  { name: 'expiring', expires: '2099-12-31 23:59:59.999999+00' },
]
const PAGE = 3

describe.each([
  ['PostgreSQL', {}],
  ['PGlite', { DATABASE_URL: '' }],
  // Only a base URL could put a character to escape in a signed URL.
  ['PostgreSQL, behind a base URL JSON escapes', { PUBLIC_BASE_URL: 'http://satchel.test/"\\' }],
])('a list page on %s', (_, env) => {
  let t: TestApp
  let user: TestUser

  // Opening PGlite compiles its WASM and runs initdb: seconds alone, far more on a busy machine.
  beforeAll(async () => {
    t = await buildTestApp(env)
    user = await signUp(t.app)
    for (const file of AWKWARD) {
      const { id } = await injectUpload(t.app, user, 'upload.bin', Buffer.from('x'))
      await sql`update files set name = ${file.name}, size = ${file.size ?? 1}::bigint,
        sha256 = ${file.sha256 === null ? null : 'ab'.repeat(32)},
        content_type = ${file.type ?? 'application/octet-stream'},
        expires_at = ${file.expires ?? null}::timestamptz
        where id = ${id}`.execute(t.database.db)
    }
  }, 180_000)
  afterAll(() => t?.close())

  /** The body GET /files should give: its files as GET /files/:id shows them, and the cursor. */
  async function expected(ids: string[], sort: string, order: string, more: boolean) {
    const items: Record<string, unknown>[] = []
    for (const id of ids) {
      items.push((await t.app.inject({ url: `/files/${id}`, headers: user.auth })).json())
    }
    const last = items.at(-1)!
    const cursor = [sort, order, last[sort], last.id]
    const next = more ? Buffer.from(JSON.stringify(cursor)).toString('base64url') : null
    return JSON.stringify({ items, next_cursor: next })
  }

  it.each([
    ['name', 'asc'],
    ['size', 'desc'],
    ['created_at', 'asc'],
  ])('is JSON.stringify of the files GET /files/:id shows, by %s %s', async (sort, order) => {
    const query = `/files?limit=${PAGE}&sort=${sort}&order=${order}`
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: Awaited<ReturnType<typeof t.app.inject>> = await t.app.inject({
        url: cursor ? `${query}&cursor=${cursor}` : query,
        headers: user.auth,
      })
      const { items, next_cursor } = page.json<{
        items: { id: string; name: string }[]
        next_cursor: string | null
      }>()
      const more = seen.length + items.length < AWKWARD.length
      const ids = items.map((item) => item.id)
      expect(page.body).toBe(await expected(ids, sort, order, more))
      seen.push(...items.map((item) => item.name))
      cursor = next_cursor
    } while (cursor)
    expect(seen.sort()).toEqual(AWKWARD.map((file) => file.name).sort())
  })
})
