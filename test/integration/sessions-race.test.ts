import { createHash } from 'node:crypto'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { QueryGate } from '../helpers/query-gate.js'

const ITERATIONS = 50
// A few seconds on an idle machine; several times that while other suites share its cores.
const SWEEP_TIMEOUT_MS = 120_000
// How long a held request waits for its competitor once the competitor has issued a query
// (long enough for an unblocked query to finish on a loaded machine), and at most: a
// competitor may be blocked before it issues one (PGlite hands its one connection to a
// transaction before the transaction's first query).
const COMPETITOR_GRACE_MS = 100
const MAX_HOLD_MS = 300

interface Pair {
  access_token: string
  refresh_token: string
}

const digest = (token: string) => createHash('sha256').update(token).digest('hex')

async function turns(n: number) {
  for (let i = 0; i < n; i++) await nextTurn()
}

// An empty DATABASE_URL leaves the config without one: the app opens PGlite.
describe.each([
  ['PostgreSQL', {}],
  ['PGlite', { DATABASE_URL: '' }],
])('sessions on %s', (driver, env) => {
  const gate = new QueryGate()
  let t: TestApp
  let user: TestUser
  // Opening PGlite compiles its WASM and runs initdb: seconds alone, far more on a busy machine.
  beforeAll(async () => {
    t = await buildTestApp(env, { database: gate.wrap })
    user = await signUp(t.app)
  }, 180_000)
  afterAll(() => t?.close())

  const login = async (): Promise<Pair> => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: user.email, password: user.password },
    })
    expect(res.statusCode, res.body).toBe(200)
    return res.json()
  }
  const refresh = (token: string) =>
    t.app.inject({ method: 'POST', url: '/token/refresh', payload: { refresh_token: token } })
  const logout = (access: string) =>
    t.app.inject({ method: 'POST', url: '/logout', headers: { authorization: `Bearer ${access}` } })
  const issued = (results: LightMyRequestResponse[]) =>
    results.filter((r) => r.statusCode === 200).map((r) => r.json<Pair>().refresh_token)
  /** How many of the tokens still rotate; each one tried is spent, so call this last. */
  const working = async (tokens: string[]) => {
    let n = 0
    for (const token of tokens) if ((await refresh(token)).statusCode === 200) n++
    return n
  }

  /**
   * Holds `first` after each of its statements in turn and runs `second` in that gap; the
   * held request goes on once `second` finished or, if it is blocked (a row lock, PGlite's
   * single connection), after a moment. Returns one result per step, until `first` runs
   * out of statements.
   */
  async function atEveryStep(
    first: (pair: Pair) => Promise<LightMyRequestResponse>,
    second: (pair: Pair) => Promise<LightMyRequestResponse>,
  ) {
    const steps: { pair: Pair; first: LightMyRequestResponse; second: LightMyRequestResponse }[] =
      []
    for (let step = 1; ; step++) {
      const pair = await login()
      const pause = gate.pauseAfter(step)
      const running = first(pair)
      const held = await Promise.race([pause.reached.then(() => true), running.then(() => false)])
      if (!held) {
        gate.disarm()
        return steps
      }
      const competing = second(pair)
      await Promise.race([
        competing,
        pause.otherQuery.then(() => sleep(COMPETITOR_GRACE_MS)),
        sleep(MAX_HOLD_MS),
      ])
      pause.release()
      steps.push({ pair, first: await running, second: await competing })
    }
  }

  it('two refreshes of one token, the second landing at every step of the first: at most one wins, none survives the detected reuse', async () => {
    const steps = await atEveryStep(
      (pair) => refresh(pair.refresh_token),
      (pair) => refresh(pair.refresh_token),
    )
    expect(steps.length).toBeGreaterThan(1)
    const seen = { bothWon: 0, survivors: 0 }
    for (const step of steps) {
      const tokens = issued([step.first, step.second])
      if (tokens.length > 1) seen.bothWon++
      seen.survivors += await working(tokens)
    }
    expect(seen).toEqual({ bothWon: 0, survivors: 0 })
  })

  it('a logout landing at every step of a refresh leaves no working refresh token', async () => {
    const steps = await atEveryStep(
      (pair) => refresh(pair.refresh_token),
      (pair) => logout(pair.access_token),
    )
    expect(steps.length).toBeGreaterThan(1)
    let survivors = 0
    for (const step of steps) {
      expect(step.second.statusCode).toBe(204)
      survivors += await working([step.pair.refresh_token, ...issued([step.first])])
    }
    expect({ survivors }).toEqual({ survivors: 0 })
  })

  it('an expired refresh token is refused, is not marked used, and never revokes its session', async () => {
    const pair = await login()
    await t.database.db
      .updateTable('refresh_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', digest(pair.refresh_token))
      .execute()
    for (let i = 0; i < 2; i++) {
      const res = await refresh(pair.refresh_token)
      expect(res.statusCode).toBe(401)
      expect(res.json().code).toBe('invalid_refresh_token')
    }
    const token = await t.database.db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', digest(pair.refresh_token))
      .executeTakeFirstOrThrow()
    expect(token.used_at).toBeNull()
    const session = await t.database.db
      .selectFrom('sessions')
      .selectAll()
      .where('id', '=', token.session_id)
      .executeTakeFirstOrThrow()
    expect(session.revoked_at).toBeNull()
  })

  // Free-running races on top of the stepped ones: PGlite runs one statement at a time, so
  // there only the stepped tests reach the gaps.
  it.runIf(driver === 'PostgreSQL')(
    `two concurrent refreshes of one token, ${ITERATIONS} times: at most one wins, none survives the detected reuse`,
    async () => {
      const seen = { bothWon: 0, reuseDetected: 0, survivors: 0 }
      for (let i = 0; i < ITERATIONS; i++) {
        const pair = await login()
        const first = refresh(pair.refresh_token)
        // Start the second at a different step of the first's rotation each time.
        await turns(i % 25)
        const results = await Promise.all([first, refresh(pair.refresh_token)])
        const tokens = issued(results)
        if (tokens.length > 1) seen.bothWon++
        // Both presented a valid token, so any refusal is the replay being detected.
        if (results.some((r) => r.statusCode === 401)) seen.reuseDetected++
        seen.survivors += await working(tokens)
      }
      expect(seen).toEqual({ bothWon: 0, reuseDetected: ITERATIONS, survivors: 0 })
    },
    SWEEP_TIMEOUT_MS,
  )

  it.runIf(driver === 'PostgreSQL')(
    `a refresh racing a logout, ${ITERATIONS} times: no working refresh token after the 204`,
    async () => {
      let survivors = 0
      let rotated = 0
      for (let i = 0; i < ITERATIONS; i++) {
        const pair = await login()
        const refreshing = refresh(pair.refresh_token)
        await turns(i % 25)
        expect((await logout(pair.access_token)).statusCode).toBe(204)
        const tokens = issued([await refreshing])
        rotated += tokens.length
        survivors += await working([pair.refresh_token, ...tokens])
      }
      expect({ survivors }).toEqual({ survivors: 0 })
      // Some rotations must have got in before the logout, or the race proved nothing.
      expect(rotated).toBeGreaterThan(0)
    },
    SWEEP_TIMEOUT_MS,
  )
})
