import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { QueryGate } from '../helpers/query-gate.js'

const sessionOf = (token: string): string =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid

describe('sessions and password change', () => {
  const gate = new QueryGate()
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({}, { database: gate.wrap })
  }, 60_000)
  afterAll(() => t?.close())

  const login = async (user: TestUser, password = user.password, userAgent = 'test-agent') => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/login',
      headers: { 'user-agent': userAgent },
      payload: { email: user.email, password },
    })
    return res
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const changePassword = (token: string, current: string, next: string) =>
    t.app.inject({
      method: 'POST',
      url: '/me/password',
      headers: bearer(token),
      payload: { current_password: current, new_password: next },
    })

  it('GET /sessions lists the caller’s live sessions, marks the current one, pages by cursor', async () => {
    const user = await signUp(t.app)
    const other = await signUp(t.app)
    const second = (await login(user, user.password, 'Phone/1.0')).json().access_token
    await login(user, user.password, 'Laptop/2.0')
    const res = await t.app.inject({ url: '/sessions?limit=2', headers: bearer(second) })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const first = res.json()
    expect(first.items).toHaveLength(2)
    expect(first.items[0].user_agent).toBe('Laptop/2.0')
    expect(first.items[1]).toMatchObject({
      user_agent: 'Phone/1.0',
      current: true,
      ip: '127.0.0.1',
    })
    const rest = await t.app.inject({
      url: `/sessions?limit=2&cursor=${first.next_cursor}`,
      headers: bearer(second),
    })
    expect(rest.json().items.map((s: { id: string }) => s.id)).toEqual([
      sessionOf(user.accessToken),
    ])
    expect(rest.json().next_cursor).toBeNull()

    // Another user's session is not found, never forbidden; a revoked one is no longer listed.
    const theirs = await t.app.inject({
      method: 'DELETE',
      url: `/sessions/${sessionOf(other.accessToken)}`,
      headers: user.auth,
    })
    expect([theirs.statusCode, theirs.json().code]).toEqual([404, 'session_not_found'])
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/sessions/${sessionOf(user.accessToken)}`,
      headers: bearer(second),
    })
    expect(revoke.statusCode).toBe(204)
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/token/refresh',
      payload: { refresh_token: user.refreshToken },
    })
    expect(refresh.statusCode).toBe(401)
    const after = await t.app.inject({ url: '/sessions', headers: bearer(second) })
    expect(after.json().items).toHaveLength(2)
  })

  it('POST /me/password checks the current password and ends every older session', async () => {
    const user = await signUp(t.app)
    const wrong = await changePassword(user.accessToken, 'not my password', 'whatever new pw')
    expect([wrong.statusCode, wrong.json().code]).toEqual([401, 'invalid_credentials'])

    const res = await changePassword(user.accessToken, user.password, 'the new password')
    expect(res.statusCode, res.body).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const pair = res.json()
    expect((await t.app.inject({ url: '/me', headers: user.auth })).statusCode).toBe(401)
    const oldRefresh = await t.app.inject({
      method: 'POST',
      url: '/token/refresh',
      payload: { refresh_token: user.refreshToken },
    })
    expect(oldRefresh.statusCode).toBe(401)
    expect(
      (await t.app.inject({ url: '/me', headers: bearer(pair.access_token) })).statusCode,
    ).toBe(200)
    const newRefresh = await t.app.inject({
      method: 'POST',
      url: '/token/refresh',
      payload: { refresh_token: pair.refresh_token },
    })
    expect(newRefresh.statusCode).toBe(200)
    expect((await login(user)).statusCode).toBe(401)
    expect((await login(user, 'the new password')).statusCode).toBe(200)
  })

  it('counts wrong current passwords against the login budget', async () => {
    const user = await signUp(t.app)
    const statuses: number[] = []
    for (let i = 0; i < 11; i++)
      statuses.push(
        (await changePassword(user.accessToken, `wrong ${i}`, 'new password!')).statusCode,
      )
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401))
    expect(statuses[10]).toBe(429)
    // The budget is the login's: the right password by login is refused too, for now.
    expect((await login(user)).statusCode).toBe(429)
  })

  it('a login that checked the old password before a change commits gets no session', async () => {
    const user = await signUp(t.app)
    // Held right after the login has read the old hash, before it verifies and starts a session.
    const pause = gate.pauseAfter(1)
    const racing = login(user)
    await pause.reached
    const changed = await changePassword(user.accessToken, user.password, 'changed meanwhile')
    expect(changed.statusCode, changed.body).toBe(200)
    pause.release()
    const res = await racing
    expect([res.statusCode, res.json().code]).toEqual([401, 'invalid_credentials'])
  })
})
