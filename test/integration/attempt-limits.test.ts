import { setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AttemptLimiter } from '../../src/infra/attempt-limiter.js'
import { FixedWindowCounter } from '../../src/infra/fixed-window.js'
import { createLogger } from '../../src/infra/logger.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { connectTestRedis, TEST_REDIS_URL, type TestRedis } from '../helpers/redis.js'

const LIMIT = 10
const PARALLEL = 30

/** How many responses had each status and problem code, e.g. {'401 invalid_credentials': 10}. */
function tally(responses: LightMyRequestResponse[]) {
  const counts: Record<string, number> = {}
  for (const res of responses) {
    const key = `${res.statusCode} ${res.json().code}`
    counts[key] = (counts[key] ?? 0) + 1
  }
  return counts
}

describe.each([
  ['in-process counters', {}],
  ['Redis counters', { REDIS_URL: TEST_REDIS_URL }],
])('wrong-password limits with %s', (_, env) => {
  let t: TestApp
  let owner: TestUser
  beforeAll(async () => {
    t = await buildTestApp(env)
    owner = await signUp(t.app)
  })
  afterAll(() => t.close())

  const login = (email: string, password: string) =>
    t.app.inject({ method: 'POST', url: '/login', payload: { email, password } })
  const protectedShare = async () => {
    const file = await injectUpload(t.app, owner, 'secret.txt', Buffer.from('secret bytes'))
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${file.id}/shares`,
      headers: owner.auth,
      payload: { password: 'right password' },
    })
    expect(res.statusCode, res.body).toBe(201)
    const path = new URL(res.json<{ url: string }>().url).pathname
    return (password?: string) =>
      t.app.inject({ url: path, headers: password ? { 'x-share-password': password } : {} })
  }

  it(`${PARALLEL} parallel wrong share passwords: ${LIMIT} are verified, the rest refused unverified`, async () => {
    const fetch = await protectedShare()
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => fetch(`wrong guess ${i}`)),
    )
    expect(tally(responses)).toEqual({
      '401 share_password_invalid': LIMIT,
      '429 too_many_attempts': PARALLEL - LIMIT,
    })
    expect((await fetch('right password')).statusCode).toBe(429)
  })

  it(`${PARALLEL} parallel wrong passwords for one login: ${LIMIT} are verified, the rest refused unverified`, async () => {
    const user = await signUp(t.app)
    const responses = await Promise.all(
      Array.from({ length: PARALLEL }, (_, i) => login(user.email, `wrong password ${i}`)),
    )
    expect(tally(responses)).toEqual({
      '401 invalid_credentials': LIMIT,
      '429 too_many_attempts': PARALLEL - LIMIT,
    })
    expect((await login(user.email, user.password)).statusCode).toBe(429)
  })

  it('right passwords give their attempt back, so they never use up the budget', async () => {
    const user = await signUp(t.app)
    for (let i = 0; i < LIMIT + 2; i++) {
      expect((await login(user.email, user.password)).statusCode).toBe(200)
    }
    const fetch = await protectedShare()
    for (let i = 0; i < LIMIT + 2; i++) expect((await fetch('right password')).statusCode).toBe(200)
    // The whole budget of wrong ones is still there.
    const wrongLogins = await Promise.all(
      Array.from({ length: LIMIT + 1 }, () => login(user.email, 'wrong password')),
    )
    expect(tally(wrongLogins)).toEqual({
      '401 invalid_credentials': LIMIT,
      '429 too_many_attempts': 1,
    })
  })

  it('a share request without a password is not a guess, but a locked-out client is told so', async () => {
    const fetch = await protectedShare()
    for (let i = 0; i < LIMIT + 2; i++) {
      expect((await fetch()).json().code).toBe('share_password_required')
    }
    for (let i = 0; i < LIMIT; i++) expect((await fetch(`guess ${i}`)).statusCode).toBe(401)
    const locked = await fetch()
    expect(locked.statusCode).toBe(429)
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(60)
  })
})

describe.each([
  ['in process', false],
  ['in Redis', true],
])('a refunded hit, counted %s', (_, withRedis) => {
  let redis: TestRedis | undefined
  let counter: FixedWindowCounter
  beforeAll(async () => {
    redis = withRedis ? await connectTestRedis() : undefined
    counter = new FixedWindowCounter(redis?.client, createLogger('silent'), redis?.prefix)
  })
  afterAll(() => redis?.close())

  it('comes off the window that counted it', async () => {
    await counter.hit('a', 60_000)
    const second = await counter.hit('a', 60_000)
    await counter.refund('a', second)
    expect((await counter.peek('a')).current).toBe(1)
  })

  it('never comes off a window that started after it', async () => {
    const old = await counter.hit('b', 100)
    await sleep(150)
    await counter.hit('b', 60_000)
    await counter.refund('b', old)
    expect((await counter.peek('b')).current).toBe(1)
  })
})

describe('wrong-password limits while Redis replies are lost', () => {
  let redis: TestRedis
  beforeAll(async () => {
    redis = await connectTestRedis()
  })
  afterAll(() => redis.close())

  it(`verify no more than the limit in one instance, even when every other count's reply is lost`, async () => {
    // Each count reaches Redis, but every second reply is lost (a command timeout under
    // load): the shared counter then counts that attempt in-process instead.
    let evals = 0
    const flaky = new Proxy(redis.client, {
      get(target, prop) {
        // Counts go by EVALSHA, and by EVAL while Redis does not know the script yet.
        if (prop === 'eval' || prop === 'evalsha') {
          return async (...args: Parameters<Redis['eval']>) => {
            const reply = await target[prop](...args)
            if (++evals % 2 === 0) throw new Error('Command timed out')
            return reply
          }
        }
        const value = Reflect.get(target, prop)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const logger = createLogger('silent')
    const limiter = new AttemptLimiter({
      shared: new FixedWindowCounter(flaky, logger, redis.prefix),
      local: new FixedWindowCounter(undefined, logger),
      name: 'lost-replies',
      maxFailures: LIMIT,
      windowSeconds: 60,
    })
    let verified = 0
    const attempts = await Promise.all(
      Array.from({ length: PARALLEL }, () =>
        limiter.attempt('client', async () => {
          verified++
          await sleep(5)
          return undefined
        }),
      ),
    )
    expect({ verified, blocked: attempts.filter((a) => a.blocked).length }).toEqual({
      verified: LIMIT,
      blocked: PARALLEL - LIMIT,
    })
  })
})
