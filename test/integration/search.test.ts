import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'

interface Seeded {
  id: string
  name: string
  content_type: string
  size: number
  created_at: Date
}

const TYPES = [
  'image/png',
  'image/jpeg',
  'video/mp4',
  'audio/mpeg',
  'application/pdf',
  'text/plain',
  'application/zip',
  'application/octet-stream',
]

let t: TestApp
let alice: TestUser
let bob: TestUser
const mine: Seeded[] = []

beforeAll(async () => {
  t = await buildTestApp()
  alice = await signUp(t.app)
  bob = await signUp(t.app)
  const base = Date.UTC(2026, 0, 1)
  const rows = (owner: string, n: number, prefix: string) =>
    Array.from({ length: n }, (_, i) => ({
      id: randomUUID(),
      owner_id: owner,
      // Repeated sizes and names make ties that keyset pagination must break by id.
      name: `${prefix}${['Report', 'photo', 'Holiday_Photo', 'notes', '100%_done'][i % 5]}-${i % 7}.bin`,
      size: (i % 13) * 1000,
      content_type: TYPES[i % TYPES.length]!,
      sha256: 'x',
      storage_key: `blobs/aa/${randomUUID()}`,
      driver: 'local',
      status: 'available' as const,
      created_at: new Date(base + (i % 40) * 86_400_000),
      updated_at: new Date(base),
    }))
  const aliceRows = rows(alice.id, 120, '')
  await t.database.db.insertInto('files').values(aliceRows).execute()
  await t.database.db
    .insertInto('files')
    .values(rows(bob.id, 60, 'bob-'))
    .execute()
  mine.push(...aliceRows)
})
afterAll(() => t.close())

async function all(user: TestUser, query: string, limit = 7) {
  const seen: {
    id: string
    name: string
    size: number
    content_type: string
    created_at: string
  }[] = []
  let cursor: string | null = null
  do {
    const res: Awaited<ReturnType<typeof t.app.inject>> = await t.app.inject({
      url: `/files?limit=${limit}&${query}${cursor ? `&cursor=${cursor}` : ''}`,
      headers: user.auth,
    })
    expect(res.statusCode, res.body).toBe(200)
    const page: { items: typeof seen; next_cursor: string | null } = res.json()
    seen.push(...page.items)
    cursor = page.next_cursor
  } while (cursor)
  return seen
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id)
const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

describe('GET /files filters', () => {
  it('q matches a case-insensitive substring of the name, with wildcards taken literally', async () => {
    const found = await all(alice, 'q=PHOTO')
    expect(ids(found).sort()).toEqual(ids(mine.filter((f) => /photo/i.test(f.name))).sort())
    const literal = await all(alice, `q=${encodeURIComponent('100%')}`)
    expect(literal.length).toBe(mine.filter((f) => f.name.includes('100%')).length)
    expect(await all(alice, `q=${encodeURIComponent('%')}`)).toHaveLength(literal.length)
  })

  it.each([
    ['image/png', (f: Seeded) => f.content_type === 'image/png'],
    ['image/', (f: Seeded) => f.content_type.startsWith('image/')],
    ['image', (f: Seeded) => f.content_type.startsWith('image/')],
    ['document', (f: Seeded) => ['application/pdf', 'text/plain'].includes(f.content_type)],
    ['archive', (f: Seeded) => f.content_type === 'application/zip'],
    ['other', (f: Seeded) => f.content_type === 'application/octet-stream'],
  ])('type=%s', async (type, keep) => {
    const found = await all(alice, `type=${encodeURIComponent(type)}`)
    expect(ids(found).sort()).toEqual(ids(mine.filter(keep)).sort())
  })

  it('uploaded_after / uploaded_before bound the upload date', async () => {
    const after = new Date(Date.UTC(2026, 0, 10))
    const before = new Date(Date.UTC(2026, 0, 20))
    const found = await all(
      alice,
      `uploaded_after=${after.toISOString()}&uploaded_before=${before.toISOString()}`,
    )
    expect(ids(found).sort()).toEqual(
      ids(mine.filter((f) => f.created_at >= after && f.created_at < before)).sort(),
    )
  })

  it('combines filters with each other and with size bounds', async () => {
    const found = await all(alice, 'q=photo&type=image&min_size=2000&max_size=9000', 3)
    const expected = mine.filter(
      (f) =>
        /photo/i.test(f.name) &&
        f.content_type.startsWith('image/') &&
        f.size >= 2000 &&
        f.size <= 9000,
    )
    expect(expected.length).toBeGreaterThan(0)
    expect(ids(found).sort()).toEqual(ids(expected).sort())
  })

  it('answers bad filters with 400', async () => {
    for (const query of [
      'type=not a type',
      'uploaded_after=yesterday',
      'min_size=-1',
      'sort=owner',
      'order=up',
    ]) {
      const res = await t.app.inject({ url: `/files?${query}`, headers: alice.auth })
      expect(res.statusCode, query).toBe(400)
    }
  })

  it('never returns another user’s files', async () => {
    const found = await all(alice, 'q=bob')
    expect(found).toEqual([])
    expect((await all(bob, '')).every((f) => f.name.startsWith('bob-'))).toBe(true)
  })

  it('is also served at GET /search', async () => {
    const res = await t.app.inject({ url: '/search?q=notes&limit=1000', headers: alice.auth })
    expect(res.json().items).toHaveLength(mine.filter((f) => f.name.includes('notes')).length)
  })
})

describe('pagination', () => {
  const sorts: [string, (a: Seeded, b: Seeded) => number][] = [
    ['created_at', (a, b) => a.created_at.getTime() - b.created_at.getTime() || byId(a, b)],
    ['name', (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : byId(a, b))],
    ['size', (a, b) => a.size - b.size || byId(a, b)],
  ]

  it.each(
    sorts.flatMap(([sort, compare]) =>
      (['asc', 'desc'] as const).map((order) => [sort, order, compare] as const),
    ),
  )('by %s %s visits every file once, in order', async (sort, order, compare) => {
    const found = await all(alice, `sort=${sort}&order=${order}`, 11)
    expect(new Set(ids(found)).size).toBe(mine.length)
    const expected = [...mine].sort(compare)
    if (order === 'desc') expected.reverse()
    if (sort === 'name') {
      // The database collation decides text order: the walk must equal one unpaged query.
      const single = await all(alice, `sort=${sort}&order=${order}`, 1000)
      expect(ids(found)).toEqual(ids(single))
    } else {
      expect(ids(found)).toEqual(ids(expected))
    }
  })

  it('refuses a cursor from another sort order', async () => {
    const first = await t.app.inject({ url: '/files?limit=2&sort=size', headers: alice.auth })
    const cursor = first.json().next_cursor
    const res = await t.app.inject({
      url: `/files?limit=2&sort=name&cursor=${cursor}`,
      headers: alice.auth,
    })
    expect(res.statusCode).toBe(400)
    expect(res.json().code).toBe('invalid_cursor')
  })
})
