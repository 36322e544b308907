import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openCliContext } from '../../src/cli/cli-context.js'
import type { App } from '../../src/http/types.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { QueryGate } from '../helpers/query-gate.js'
import { TEST_REDIS_URL } from '../helpers/redis.js'
import { startRedisServer } from '../helpers/redis-server.js'

// The promise: refused within a second, on every instance.
const WITHIN_MS = 1000
// The guard's verdict lifetime, which bounds an instance that missed the event.
const GUARD_TTL_MS = 5000

/** Two instances of one deployment: one PostgreSQL, one Redis, one prefix. */
async function twoInstances(redisUrl: string): Promise<[TestApp, TestApp]> {
  const a = await buildTestApp({ REDIS_URL: redisUrl })
  const b = await buildTestApp({
    REDIS_URL: redisUrl,
    DATABASE_URL: a.config.databaseUrl!,
    REDIS_PREFIX: a.config.redisPrefix,
  })
  return [a, b]
}

const me = (app: App, token: string) =>
  app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

async function login(app: App, user: TestUser, password = user.password) {
  const res = await app.inject({
    method: 'POST',
    url: '/login',
    payload: { email: user.email, password },
  })
  expect(res.statusCode, res.body).toBe(200)
  return res.json<{ access_token: string; refresh_token: string }>()
}

const sessionOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid

/** How long until `app` refuses the token with `status`, polling; fails past `limitMs`. */
async function refusedAfter(app: App, token: string, status: number, limitMs: number) {
  const started = Date.now()
  for (;;) {
    const res = await me(app, token)
    if (res.statusCode === status) return Date.now() - started
    expect(res.statusCode, res.body).toBe(200)
    if (Date.now() - started > limitMs) throw new Error(`still accepted after ${limitMs} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('access tokens stop at once on every instance', () => {
  let a: TestApp
  let b: TestApp
  beforeAll(async () => {
    ;[a, b] = await twoInstances(TEST_REDIS_URL)
  }, 60_000)
  afterAll(async () => {
    await b?.close()
    await a?.close()
  })

  /** A user with a token B has already accepted, so B holds a cached verdict for it. */
  async function warmed() {
    const user = await signUp(a.app)
    expect((await me(b.app, user.accessToken)).statusCode).toBe(200)
    return user
  }

  it('after logout', async () => {
    const user = await warmed()
    await a.app.inject({ method: 'POST', url: '/logout', headers: user.auth })
    expect((await me(a.app, user.accessToken)).statusCode).toBe(401)
    expect(await refusedAfter(b.app, user.accessToken, 401, WITHIN_MS)).toBeLessThan(WITHIN_MS)
  })

  it('after DELETE /sessions/:id from another session', async () => {
    const user = await warmed()
    const other = await login(a.app, user)
    const res = await a.app.inject({
      method: 'DELETE',
      url: `/sessions/${sessionOf(user.accessToken)}`,
      headers: { authorization: `Bearer ${other.access_token}` },
    })
    expect(res.statusCode, res.body).toBe(204)
    expect(await refusedAfter(b.app, user.accessToken, 401, WITHIN_MS)).toBeLessThan(WITHIN_MS)
    expect((await me(b.app, other.access_token)).statusCode).toBe(200)
  })

  it('after a password change, for every session including the caller’s old token', async () => {
    const user = await warmed()
    const other = await login(a.app, user)
    expect((await me(b.app, other.access_token)).statusCode).toBe(200)
    const res = await a.app.inject({
      method: 'POST',
      url: '/me/password',
      headers: user.auth,
      payload: { current_password: user.password, new_password: 'a brand new password' },
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(await refusedAfter(b.app, other.access_token, 401, WITHIN_MS)).toBeLessThan(WITHIN_MS)
    expect(await refusedAfter(b.app, user.accessToken, 401, WITHIN_MS)).toBeLessThan(WITHIN_MS)
    expect((await me(b.app, res.json().access_token)).statusCode).toBe(200)
  })

  it('after the operator disables the user (403 account_disabled), and again after enable', async () => {
    const user = await warmed()
    const cli = await openCliContext(a.config)
    try {
      await cli.admin.setDisabled(user.email, true)
      expect(await refusedAfter(b.app, user.accessToken, 403, WITHIN_MS)).toBeLessThan(WITHIN_MS)
      const refused = await me(b.app, user.accessToken)
      expect(refused.headers['content-type']).toMatch(/application\/problem\+json/)
      expect(refused.json().code).toBe('account_disabled')
      const loginRes = await a.app.inject({
        method: 'POST',
        url: '/login',
        payload: { email: user.email, password: user.password },
      })
      expect([loginRes.statusCode, loginRes.json().code]).toEqual([403, 'account_disabled'])
      const refresh = await b.app.inject({
        method: 'POST',
        url: '/token/refresh',
        payload: { refresh_token: user.refreshToken },
      })
      expect([refresh.statusCode, refresh.json().code]).toEqual([403, 'account_disabled'])

      await cli.admin.setDisabled(user.email, false)
      const started = Date.now()
      while ((await me(b.app, user.accessToken)).statusCode !== 200) {
        expect(Date.now() - started).toBeLessThan(WITHIN_MS)
        await new Promise((r) => setTimeout(r, 20))
      }
    } finally {
      await cli.close()
    }
  })

  it('after account deletion', async () => {
    const user = await warmed()
    const res = await a.app.inject({
      method: 'DELETE',
      url: '/me',
      headers: user.auth,
      payload: { password: user.password },
    })
    expect(res.statusCode, res.body).toBe(204)
    expect(await refusedAfter(b.app, user.accessToken, 401, WITHIN_MS)).toBeLessThan(WITHIN_MS)
  })
})

describe('the session guard', () => {
  it('never stores a verdict loaded before a revocation', async () => {
    const gate = new QueryGate()
    const t = await buildTestApp({}, { database: gate.wrap })
    try {
      const user = await signUp(t.app)
      const other = await login(t.app, user)
      // Held after the guard has read the session, still live, before it stores the verdict.
      const pause = gate.pauseAfter(1)
      const early = me(t.app, user.accessToken)
      await pause.reached
      const revoke = await t.app.inject({
        method: 'DELETE',
        url: `/sessions/${sessionOf(user.accessToken)}`,
        headers: { authorization: `Bearer ${other.access_token}` },
      })
      expect(revoke.statusCode, revoke.body).toBe(204)
      pause.release()
      // It began before the revocation: either answer is fair for it.
      await early
      const after = await me(t.app, user.accessToken)
      expect(after.statusCode, after.body).toBe(401)
    } finally {
      await t.close()
    }
  }, 60_000)

  it('bounds how long an instance that missed the event (Redis down) accepts a token', async () => {
    const redis = await startRedisServer()
    const [a, b] = await twoInstances(redis.url)
    try {
      const user = await signUp(a.app)
      expect((await me(b.app, user.accessToken)).statusCode).toBe(200)
      await redis.stop()
      const res = await a.app.inject({ method: 'POST', url: '/logout', headers: user.auth })
      expect(res.statusCode).toBe(204)
      expect((await me(a.app, user.accessToken)).statusCode).toBe(401)
      const took = await refusedAfter(b.app, user.accessToken, 401, GUARD_TTL_MS + 2000)
      expect(took).toBeLessThanOrEqual(GUARD_TTL_MS + 2000)
    } finally {
      await b.close()
      await a.close()
      await redis.stop()
    }
  }, 60_000)
})
