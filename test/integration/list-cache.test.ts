import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { startRedisServer } from '../helpers/redis-server.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

interface Listing {
  items: { id: string; name: string }[]
  next_cursor: string | null
}

const listOf = (t: TestApp, user: TestUser, query = '') =>
  t.app.inject({ url: `/files${query}`, headers: user.auth })
const names = async (t: TestApp, user: TestUser, query = '') =>
  (await listOf(t, user, query)).json<Listing>().items.map((f) => f.name)

async function queriesDuring(t: TestApp, work: () => Promise<unknown>) {
  const before = t.queries()
  await work()
  return t.queries() - before
}

describe.each([
  ['Redis', { REDIS_URL }],
  ['in-process', {}],
] as const)('the list page cache (%s)', (_, env) => {
  let t: TestApp
  let alice: TestUser
  let bob: TestUser
  beforeAll(async () => {
    t = await buildTestApp({ ...env })
    alice = await signUp(t.app)
    bob = await signUp(t.app)
  })
  afterAll(() => t.close())

  it('answers a repeated list without the database, and another query with it', async () => {
    await injectUpload(t.app, alice, 'first.txt', Buffer.from('1'))
    await listOf(t, alice)
    expect(await queriesDuring(t, () => listOf(t, alice))).toBe(0)
    expect(await queriesDuring(t, () => listOf(t, alice, '?sort=name'))).toBe(1)
    expect(await queriesDuring(t, () => listOf(t, alice, '?q=first'))).toBe(1)
  })

  it('shows every change on the very next list: upload, rename, delete', async () => {
    const before = await names(t, alice)
    const file = await injectUpload(t.app, alice, 'new.txt', Buffer.from('n'))
    expect(await names(t, alice)).toEqual(['new.txt', ...before])

    await t.app.inject({
      method: 'PATCH',
      url: `/files/${file.id}`,
      headers: alice.auth,
      payload: { name: 'renamed.txt' },
    })
    expect(await names(t, alice)).toEqual(['renamed.txt', ...before])

    await t.app.inject({ method: 'DELETE', url: `/files/${file.id}`, headers: alice.auth })
    expect(await names(t, alice)).toEqual(before)
  })

  it('drops a file from a cached page once it expires, with no change to trigger it', async () => {
    await injectUpload(t.app, bob, 'stays.txt', Buffer.from('s'))
    const brief = await injectUpload(t.app, bob, 'brief.txt', Buffer.from('b'))
    await t.database.db
      .updateTable('files')
      .set({ expires_at: new Date(Date.now() + 1000) })
      .where('id', '=', brief.id)
      .execute()
    await t.app.inject({
      method: 'PATCH',
      url: `/files/${brief.id}`,
      headers: bob.auth,
      payload: { name: 'brief.txt' },
    })
    expect(await names(t, bob)).toEqual(['brief.txt', 'stays.txt'])
    expect(await queriesDuring(t, () => listOf(t, bob))).toBe(0)

    await new Promise((r) => setTimeout(r, 1100))

    expect(await names(t, bob)).toEqual(['stays.txt'])
  })

  it("keeps each user's pages apart", async () => {
    const carol = await signUp(t.app)
    const dave = await signUp(t.app)
    await injectUpload(t.app, carol, 'carols.txt', Buffer.from('c'))
    expect(await names(t, carol)).toEqual(['carols.txt'])
    expect(await names(t, dave)).toEqual([])
  })
})

describe('a cached list page', () => {
  it('carries signed URLs that are never older than a fresh list would give', async () => {
    const t = await buildTestApp({ SIGNED_URL_TTL_SECONDS: '60', CACHE_TTL_SECONDS: '300' })
    try {
      const alice = await signUp(t.app)
      await injectUpload(t.app, alice, 'linked.txt', Buffer.from('l'))
      const urlExpiry = async () => {
        const [item] = (await listOf(t, alice)).json<{ items: { url: string }[] }>().items
        return Number(new URL(item!.url).searchParams.get('expires'))
      }
      const first = await urlExpiry()
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.now() + 7_000)

      const queries = t.queries()
      const later = await urlExpiry()

      expect(t.queries()).toBe(queries)
      expect(later).toBeGreaterThan(first)
      expect(later - Date.now() / 1000).toBeGreaterThan(54)
    } finally {
      vi.useRealTimers()
      await t.close()
    }
  })
})

describe('the list page cache across instances', () => {
  it('shows a rename made through one instance on the next list through another', async () => {
    const a = await buildTestApp({ REDIS_URL })
    const b = await buildTestApp({
      REDIS_URL,
      DATABASE_URL: a.config.databaseUrl!,
      REDIS_PREFIX: a.config.redisPrefix,
    })
    try {
      const alice = await signUp(a.app)
      const file = await injectUpload(a.app, alice, 'one.txt', Buffer.from('1'))
      expect(await names(b, alice)).toEqual(['one.txt'])
      expect(await queriesDuring(b, () => listOf(b, alice))).toBe(0)

      await a.app.inject({
        method: 'PATCH',
        url: `/files/${file.id}`,
        headers: alice.auth,
        payload: { name: 'two.txt' },
      })
      expect(await names(b, alice)).toEqual(['two.txt'])

      await injectUpload(a.app, alice, 'three.txt', Buffer.from('3'))
      expect(await names(b, alice)).toEqual(['three.txt', 'two.txt'])
    } finally {
      await b.app.close()
      await a.close()
    }
  })

  it('lists from the database while Redis is down, and caches again once it is back', async () => {
    const redis = await startRedisServer()
    const t = await buildTestApp({ REDIS_URL: redis.url })
    try {
      const alice = await signUp(t.app)
      const file = await injectUpload(t.app, alice, 'r.txt', Buffer.from('r'))
      expect(await names(t, alice)).toEqual(['r.txt'])
      await redis.stop()

      await t.app.inject({
        method: 'PATCH',
        url: `/files/${file.id}`,
        headers: alice.auth,
        payload: { name: 'renamed-while-down.txt' },
      })
      expect(await names(t, alice)).toEqual(['renamed-while-down.txt'])

      const again = await startRedisServer(redis.port)
      try {
        const deadline = Date.now() + 10_000
        let cached = false
        while (!cached && Date.now() < deadline) {
          await listOf(t, alice)
          cached = (await queriesDuring(t, () => listOf(t, alice))) === 0
          if (!cached) await new Promise((r) => setTimeout(r, 200))
        }
        expect(cached).toBe(true)
        expect(await names(t, alice)).toEqual(['renamed-while-down.txt'])
      } finally {
        await again.stop()
      }
    } finally {
      await t.close()
      await redis.stop()
    }
  })
})
