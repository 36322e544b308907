import { afterEach, describe, expect, it } from 'vitest'
import { signUp, uniqueEmail } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const apps: TestApp[] = []
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close()
})
async function app(env: Record<string, string>) {
  const t = await buildTestApp(env)
  apps.push(t)
  return t
}

describe('the general rate limit', () => {
  it('refuses the 101st request of a user inside a minute, with Retry-After and RateLimit headers', async () => {
    const t = await app({ REDIS_URL, RATE_LIMIT_PER_MINUTE: '100' })
    const user = await signUp(t.app)
    let last = await t.app.inject({ url: '/files', headers: user.auth })
    expect(last.headers['ratelimit-limit']).toBe('100')
    expect(last.headers['ratelimit-remaining']).toBe('99')
    const reset = Number(last.headers['ratelimit-reset'])
    expect(reset).toBeGreaterThan(55)
    expect(reset).toBeLessThanOrEqual(60)
    for (let i = 2; i <= 100; i++) last = await t.app.inject({ url: '/files', headers: user.auth })
    expect(last.statusCode).toBe(200)
    const refused = await t.app.inject({ url: '/files', headers: user.auth })
    expect(refused.statusCode).toBe(429)
    expect(refused.headers['content-type']).toContain('application/problem+json')
    expect(refused.json().code).toBe('rate_limited')
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0)
    // Another user has a budget of their own; health checks are never limited.
    const other = await signUp(t.app)
    expect((await t.app.inject({ url: '/files', headers: other.auth })).statusCode).toBe(200)
    expect((await t.app.inject({ url: '/healthz', headers: user.auth })).statusCode).toBe(200)
  })

  it('is one budget for a user across two instances sharing Redis', async () => {
    const a = await app({ REDIS_URL, RATE_LIMIT_PER_MINUTE: '20' })
    const b = await app({
      REDIS_URL,
      RATE_LIMIT_PER_MINUTE: '20',
      DATABASE_URL: a.config.databaseUrl!,
      REDIS_PREFIX: a.config.redisPrefix,
    })
    const user = await signUp(a.app)
    const codes: number[] = []
    for (let i = 0; i < 21; i++) {
      const instance = i % 2 === 0 ? a : b
      codes.push((await instance.app.inject({ url: '/files', headers: user.auth })).statusCode)
    }
    expect(codes.slice(0, 20).every((c) => c === 200)).toBe(true)
    expect(codes[20]).toBe(429)
  })

  it('falls back to a per-instance limit when Redis is unreachable, never to no limit', async () => {
    const t = await app({ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_PER_MINUTE: '10' })
    const user = await signUp(t.app)
    const codes: number[] = []
    for (let i = 0; i < 11; i++)
      codes.push((await t.app.inject({ url: '/files', headers: user.auth })).statusCode)
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(200))
    expect(codes[10]).toBe(429)
  })

  it('ignores X-Forwarded-For unless the proxy is trusted, so it cannot dodge the limit', async () => {
    const t = await app({ AUTH_RATE_LIMIT_PER_MINUTE: '2' })
    const login = (ip: string) => loginFrom(t, ip)
    const codes = [
      (await login('1.1.1.1')).statusCode,
      (await login('2.2.2.2')).statusCode,
      (await login('3.3.3.3')).statusCode,
    ]
    expect(codes).toEqual([401, 401, 429])
    const behindProxy = await app({ AUTH_RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: '127.0.0.1' })
    const viaProxy = (ip: string) => loginFrom(behindProxy, ip)
    expect([
      (await viaProxy('1.1.1.1')).statusCode,
      (await viaProxy('2.2.2.2')).statusCode,
    ]).toEqual([401, 401])
  })

  it('counts anonymous requests by address', async () => {
    const t = await app({ RATE_LIMIT_PER_MINUTE: '5' })
    const codes: number[] = []
    for (let i = 0; i < 6; i++) codes.push((await t.app.inject({ url: '/files' })).statusCode)
    expect(codes).toEqual([401, 401, 401, 401, 401, 429])
  })
})

describe('password endpoints', () => {
  it('limit /login per client more strictly than the general budget', async () => {
    const t = await app({ REDIS_URL, AUTH_RATE_LIMIT_PER_MINUTE: '5' })
    const codes: number[] = []
    for (let i = 0; i < 6; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/login',
        payload: { email: uniqueEmail(), password: 'whatever1' },
      })
      codes.push(res.statusCode)
    }
    expect(codes).toEqual([401, 401, 401, 401, 401, 429])
  })

  it('lock out an email after ten wrong passwords from one client, even with the right one', async () => {
    const t = await app({ REDIS_URL })
    const user = await signUp(t.app)
    for (let i = 0; i < 10; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/login',
        payload: { email: user.email, password: `wrong password ${i}` },
      })
      expect(res.statusCode).toBe(401)
    }
    const right = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: user.email, password: user.password },
    })
    expect(right.statusCode).toBe(429)
    expect(right.json().code).toBe('too_many_attempts')
    expect(Number(right.headers['retry-after'])).toBeGreaterThan(60)
  })
})

/** A failed login that claims, through X-Forwarded-For, to come from `ip`. */
function loginFrom(t: TestApp, ip: string) {
  return t.app.inject({
    method: 'POST',
    url: '/login',
    headers: { 'x-forwarded-for': ip },
    payload: { email: uniqueEmail(), password: 'whatever1' },
  })
}
