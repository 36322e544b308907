import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/build-test-app.js'

let t: TestApp
let user: TestUser
beforeAll(async () => {
  t = await buildTestApp()
  user = await signUp(t.app)
})
afterAll(() => t.close())

const me = (token: string) =>
  t.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
const refresh = (token: string) =>
  t.app.inject({ method: 'POST', url: '/token/refresh', payload: { refresh_token: token } })
const key = new TextEncoder().encode(TEST_JWT_SECRET)
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

function claims(overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000)
  return {
    iss: 'satchel',
    aud: 'satchel-api',
    sub: user.id,
    // The user's real session: a token of a session that does not exist is refused.
    sid: JSON.parse(Buffer.from(user.accessToken.split('.')[1]!, 'base64url').toString()).sid,
    jti: 'j',
    iat: now,
    exp: now + 60,
    ...overrides,
  }
}

describe('access tokens', () => {
  it('accept a freshly issued token', async () => {
    expect((await me(user.accessToken)).statusCode).toBe(200)
  })

  it('refuse alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64(claims())}.`
    expect((await me(token)).statusCode).toBe(401)
  })

  it('refuse a tampered payload', async () => {
    const [header, , signature] = user.accessToken.split('.')
    const forged = `${header}.${b64(claims({ sub: '00000000-0000-0000-0000-000000000000' }))}.${signature}`
    expect((await me(forged)).statusCode).toBe(401)
  })

  it('refuse an expired token, saying so', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = await new SignJWT(claims({ iat: now - 120, exp: now - 60 }))
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(key)
    const res = await me(token)
    expect(res.statusCode).toBe(401)
    expect(res.json().detail).toMatch(/expired/)
  })

  it('refuse a token that expires after it was accepted', async () => {
    const now = Math.floor(Date.now() / 1000)
    const token = await new SignJWT(claims({ iat: now, exp: now + 1 }))
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(key)
    expect((await me(token)).statusCode).toBe(200)

    await new Promise((r) => setTimeout(r, (now + 1) * 1000 - Date.now() + 50))

    const res = await me(token)
    expect(res.statusCode).toBe(401)
    expect(res.json().detail).toMatch(/expired/)
  })

  it('refuse a correctly signed token of another type, issuer or audience', async () => {
    const sign = (header: Record<string, string>, body: Record<string, unknown>) =>
      new SignJWT(claims(body)).setProtectedHeader({ alg: 'HS256', ...header }).sign(key)
    expect((await me(await sign({ typ: 'JWT' }, {}))).statusCode).toBe(401)
    expect((await me(await sign({ typ: 'at+jwt' }, { iss: 'evil' }))).statusCode).toBe(401)
    expect((await me(await sign({ typ: 'at+jwt' }, { aud: 'other' }))).statusCode).toBe(401)
    expect((await me(await sign({ typ: 'at+jwt' }, {}))).statusCode).toBe(200)
  })

  it('refuse a token signed with another algorithm family', async () => {
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS512', typ: 'at+jwt' })
      .sign(key)
    expect((await me(token)).statusCode).toBe(401)
  })

  it('refuse a refresh token presented as an access token', async () => {
    expect((await me(user.refreshToken)).statusCode).toBe(401)
  })
})

describe('refresh tokens', () => {
  it('rotate: the new pair works and the old refresh token is spent', async () => {
    const u = await signUp(t.app)
    const first = await refresh(u.refreshToken)
    expect(first.statusCode).toBe(200)
    const pair = first.json()
    expect(pair.refresh_token).not.toBe(u.refreshToken)
    expect((await me(pair.access_token)).statusCode).toBe(200)
    const second = await refresh(pair.refresh_token)
    expect(second.statusCode).toBe(200)
  })

  it('reused after rotation revoke the whole family', async () => {
    const u = await signUp(t.app)
    const rotated = (await refresh(u.refreshToken)).json()
    const replay = await refresh(u.refreshToken)
    expect(replay.statusCode).toBe(401)
    expect(replay.json().code).toBe('invalid_refresh_token')
    // The thief's replay also kills the legitimate holder's current token.
    expect((await refresh(rotated.refresh_token)).statusCode).toBe(401)
  })

  it('refuse an unknown token', async () => {
    expect((await refresh('made-up-token')).statusCode).toBe(401)
  })

  it('used twice at once succeed at most once', async () => {
    const u = await signUp(t.app)
    const results = await Promise.all([
      refresh(u.refreshToken),
      refresh(u.refreshToken),
      refresh(u.refreshToken),
    ])
    expect(results.filter((r) => r.statusCode === 200).length).toBeLessThanOrEqual(1)
  })

  it('expired are refused', async () => {
    const u = await signUp(t.app)
    await t.database.db
      .updateTable('refresh_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where(
        'session_id',
        'in',
        t.database.db.selectFrom('sessions').select('id').where('user_id', '=', u.id),
      )
      .execute()
    expect((await refresh(u.refreshToken)).statusCode).toBe(401)
  })
})

describe('POST /logout', () => {
  it("revokes the session's refresh tokens", async () => {
    const u = await signUp(t.app)
    const out = await t.app.inject({ method: 'POST', url: '/logout', headers: u.auth })
    expect(out.statusCode).toBe(204)
    expect((await refresh(u.refreshToken)).statusCode).toBe(401)
  })

  it('leaves the same user’s other sessions alone', async () => {
    const u = await signUp(t.app)
    const other = (
      await t.app.inject({
        method: 'POST',
        url: '/login',
        payload: { email: u.email, password: u.password },
      })
    ).json()
    await t.app.inject({ method: 'POST', url: '/logout', headers: u.auth })
    expect((await refresh(other.refresh_token)).statusCode).toBe(200)
  })

  it('needs authentication', async () => {
    expect((await t.app.inject({ method: 'POST', url: '/logout' })).statusCode).toBe(401)
  })
})
