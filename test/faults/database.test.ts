import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

describe('PostgreSQL connections killed under the app', () => {
  let t: TestApp
  let user: TestUser
  let fileId: string
  let admin: pg.Client
  beforeAll(async () => {
    t = await buildTestApp()
    user = await signUp(t.app)
    fileId = (await injectUpload(t.app, user, 'f.txt', Buffer.from('f'))).id
    admin = new pg.Client({
      connectionString: t.config.databaseUrl!.replace(/\/[^/]+$/, '/postgres'),
    })
    await admin.connect()
  })
  afterAll(async () => {
    await admin.end()
    await t.close()
  })

  const killConnections = () =>
    admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [new URL(t.config.databaseUrl!).pathname.slice(1)],
    )

  it('answers in-flight requests 503 with Retry-After within a second, never crashes, and recovers', async () => {
    // Hold a query in flight, then kill every connection of the app's database.
    const inFlight = t.app.inject({ url: '/files?limit=10', headers: user.auth })
    const slowFailed = t.database.db
      .selectNoFrom((eb) => eb.fn<number>('pg_sleep', [eb.val(2)]).as('x'))
      .execute()
      .then(
        () => false,
        () => true,
      )
    await new Promise((r) => setTimeout(r, 100))
    const started = Date.now()
    await killConnections()
    expect(await slowFailed).toBe(true)
    const res = await inFlight
    expect([200, 503]).toContain(res.statusCode)
    expect(Date.now() - started).toBeLessThan(1000)

    // The pool discards dead clients; the next requests reconnect by themselves. Each asks
    // for a different page, so none is answered from the list cache without the database.
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      statuses.push(
        (await t.app.inject({ url: `/files?limit=${10 + i}`, headers: user.auth })).statusCode,
      )
    }
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([])
    expect(statuses.at(-1)).toBe(200)
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200)
    expect(
      (await t.app.inject({ url: `/files/${fileId}/content`, headers: user.auth })).statusCode,
    ).toBe(200)
  })

  it('answers requests caught by the kill with 503 and Retry-After, never 500', async () => {
    const burst = Array.from({ length: 30 }, (_, i) =>
      t.app.inject({ url: i % 2 ? '/me' : `/files?limit=5&q=${i}`, headers: user.auth }),
    )
    await killConnections()
    const responses = await Promise.all(burst)
    for (const res of responses) {
      expect([200, 503]).toContain(res.statusCode)
      if (res.statusCode === 503) {
        expect(res.headers['retry-after']).toBe('1')
        expect(res.json().code).toBe('service_unavailable')
      }
    }
    expect((await t.app.inject({ url: '/me', headers: user.auth })).statusCode).toBe(200)
  })
})
