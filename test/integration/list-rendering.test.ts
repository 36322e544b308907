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
