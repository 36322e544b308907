import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { startRedisServer } from '../helpers/redis-server.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

const listOf = (t: TestApp, user: TestUser, query = '') =>
  t.app.inject({ url: `/files${query}`, headers: user.auth })
const names = async (t: TestApp, user: TestUser, query = '') =>
  (await listOf(t, user, query)).json<{ items: { name: string }[] }>().items.map((f) => f.name)
const rename = (t: TestApp, user: TestUser, id: string, name: string) =>
  t.app.inject({ method: 'PATCH', url: `/files/${id}`, headers: user.auth, payload: { name } })

async function queriesDuring(t: TestApp, work: () => Promise<unknown>) {
  const before = t.queries()
  await work()
  return t.queries() - before
}

describe.each([
  ['Redis', { REDIS_URL }],
  ['in-process', {}],
] as const)('the metadata cache (%s)', (_, env) => {
  let t: TestApp
  let alice: TestUser
  let bob: TestUser
  beforeAll(async () => {
    t = await buildTestApp({ ...env })
    alice = await signUp(t.app)
    bob = await signUp(t.app)
  })
  afterAll(() => t.close())

  const getFile = (id: string, user = alice) =>
    t.app.inject({ url: `/files/${id}`, headers: user.auth })

  it('serves the second read from the cache, and a rename on the very next read', async () => {
    const file = await injectUpload(t.app, alice, 'a.txt', Buffer.from('a'))
    expect(await queriesDuring(t, () => getFile(file.id))).toBe(1)
    expect(await queriesDuring(t, () => getFile(file.id))).toBe(0)
    await rename(t, alice, file.id, 'b.txt')
    expect((await getFile(file.id)).json().name).toBe('b.txt')
    await t.app.inject({ method: 'DELETE', url: `/files/${file.id}`, headers: alice.auth })
    expect((await getFile(file.id)).statusCode).toBe(404)
  })

  it('makes one query for 50 concurrent misses', async () => {
    const file = await injectUpload(t.app, alice, 'hot.txt', Buffer.from('h'))
    const queries = await queriesDuring(t, () =>
      Promise.all(Array.from({ length: 50 }, () => getFile(file.id))),
    )
    expect(queries).toBe(1)
  })

  it("never answers one user with another's cached file", async () => {
    const file = await injectUpload(t.app, alice, 'private.txt', Buffer.from('p'))
    expect((await getFile(file.id)).statusCode).toBe(200)
    expect((await getFile(file.id, bob)).statusCode).toBe(404)
    expect(
      (await t.app.inject({ url: `/files/${file.id}/content`, headers: bob.auth })).statusCode,
    ).toBe(404)
  })

  it('drops an entry when the sweeper expires its file', async () => {
    const file = await injectUpload(t.app, alice, 'soon.txt', Buffer.from('s'))
    await getFile(file.id)
    await t.database.db
      .updateTable('files')
      .set({ expires_at: new Date(Date.now() + 1500) })
      .where('id', '=', file.id)
      .execute()
    // The cached row says it never expires; expiry is enforced all the same once it passes.
    await new Promise((r) => setTimeout(r, 1600))
    await t.app.sweeper.sweep()
    expect((await getFile(file.id)).statusCode).toBe(404)
  })

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

    await rename(t, alice, file.id, 'renamed.txt')
    expect(await names(t, alice)).toEqual(['renamed.txt', ...before])

    await t.app.inject({ method: 'DELETE', url: `/files/${file.id}`, headers: alice.auth })
    expect(await names(t, alice)).toEqual(before)
  })

  it('drops a file from a cached list once it expires, with no change to trigger it', async () => {
    const carol = await signUp(t.app)
    await injectUpload(t.app, carol, 'stays.txt', Buffer.from('s'))
    const brief = await injectUpload(t.app, carol, 'brief.txt', Buffer.from('b'))
    await t.database.db
      .updateTable('files')
      .set({ expires_at: new Date(Date.now() + 1000) })
      .where('id', '=', brief.id)
      .execute()
    await rename(t, carol, brief.id, 'brief.txt')
    expect(await names(t, carol)).toEqual(['brief.txt', 'stays.txt'])
    expect(await queriesDuring(t, () => listOf(t, carol))).toBe(0)

    await new Promise((r) => setTimeout(r, 1100))

    expect(await names(t, carol)).toEqual(['stays.txt'])
  })

  it('makes one query for 50 concurrent lists after a change', async () => {
    await injectUpload(t.app, alice, 'busy.txt', Buffer.from('b'))
    const queries = await queriesDuring(t, () =>
      Promise.all(Array.from({ length: 50 }, () => listOf(t, alice))),
    )
    expect(queries).toBe(1)
  })

  it("keeps each user's lists apart", async () => {
    const [carol, dave] = [await signUp(t.app), await signUp(t.app)]
    await injectUpload(t.app, carol, 'carols.txt', Buffer.from('c'))
    expect(await names(t, carol)).toEqual(['carols.txt'])
    expect(await names(t, dave)).toEqual([])
  })
})

describe('cache expiry and instances', () => {
  it('refreshes from the database after CACHE_TTL_SECONDS', async () => {
    const t = await buildTestApp({ REDIS_URL, CACHE_TTL_SECONDS: '1' })
    try {
      const alice = await signUp(t.app)
      const file = await injectUpload(t.app, alice, 'ttl.txt', Buffer.from('t'))
      await t.app.inject({ url: `/files/${file.id}`, headers: alice.auth })
      // A change behind the service's back is invisible until the entry expires.
      await t.database.db
        .updateTable('files')
        .set({ name: 'changed.txt' })
        .where('id', '=', file.id)
        .execute()
      expect(
        (await t.app.inject({ url: `/files/${file.id}`, headers: alice.auth })).json().name,
      ).toBe('ttl.txt')
      await new Promise((r) => setTimeout(r, 1300))
      expect(
        (await t.app.inject({ url: `/files/${file.id}`, headers: alice.auth })).json().name,
      ).toBe('changed.txt')
    } finally {
      await t.close()
    }
  })

  it('shows a rename made through one instance on the next read and list through another', async () => {
    const a = await buildTestApp({ REDIS_URL })
    const b = await buildTestApp({
      REDIS_URL,
      DATABASE_URL: a.config.databaseUrl!,
      REDIS_PREFIX: a.config.redisPrefix,
    })
    try {
      const alice = await signUp(a.app)
      const file = await injectUpload(a.app, alice, 'one.txt', Buffer.from('1'))
      expect(
        (await b.app.inject({ url: `/files/${file.id}`, headers: alice.auth })).json().name,
      ).toBe('one.txt')
      expect(await names(b, alice)).toEqual(['one.txt'])
      expect(await queriesDuring(b, () => listOf(b, alice))).toBe(0)

      await rename(a, alice, file.id, 'two.txt')
      expect(
        (await b.app.inject({ url: `/files/${file.id}`, headers: alice.auth })).json().name,
      ).toBe('two.txt')
      expect(await names(b, alice)).toEqual(['two.txt'])

      await injectUpload(a.app, alice, 'three.txt', Buffer.from('3'))
      expect(await names(b, alice)).toEqual(['three.txt', 'two.txt'])
    } finally {
      await b.close()
      await a.close()
    }
  })

  it('keeps answering while Redis is down, and uses it again once it is back', async () => {
    const redis = await startRedisServer()
    const t = await buildTestApp({ REDIS_URL: redis.url })
    try {
      const alice = await signUp(t.app)
      const file = await injectUpload(t.app, alice, 'r.txt', Buffer.from('r'))
      const read = () => t.app.inject({ url: `/files/${file.id}`, headers: alice.auth })
      expect((await read()).statusCode).toBe(200)
      await redis.stop()
      for (let i = 0; i < 5; i++) expect((await read()).statusCode).toBe(200)
      await rename(t, alice, file.id, 'renamed-while-down.txt')
      expect(await names(t, alice)).toEqual(['renamed-while-down.txt'])

      const again = await startRedisServer(redis.port)
      try {
        // Reconnection backs off up to 2 s; wait until reads are served from Redis again.
        const deadline = Date.now() + 10_000
        let cachedRead = false
        while (!cachedRead && Date.now() < deadline) {
          await read()
          const before = t.queries()
          await read()
          cachedRead = t.queries() === before
          if (!cachedRead) await new Promise((r) => setTimeout(r, 200))
        }
        expect(cachedRead).toBe(true)
        await listOf(t, alice)
        expect(await queriesDuring(t, () => listOf(t, alice))).toBe(0)
        expect(await names(t, alice)).toEqual(['renamed-while-down.txt'])
      } finally {
        await again.stop()
      }
    } finally {
      await t.close()
      await redis.stop()
    }
  })

  it('gives a cached list page signed URLs as fresh as an uncached one would have', async () => {
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
      // The token's session verdict (kept 5 s) is due again: renew it outside the measurement.
      await t.app.inject({ url: '/me', headers: alice.auth })

      expect(await queriesDuring(t, urlExpiry)).toBe(0)
      const expiry = await urlExpiry()
      expect(expiry).toBeGreaterThan(first)
      expect(expiry - Date.now() / 1000).toBeGreaterThan(54)
    } finally {
      vi.useRealTimers()
      await t.close()
    }
  })
})
