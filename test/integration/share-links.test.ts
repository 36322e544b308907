import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { multipartBody } from '../helpers/multipart.js'

interface Share {
  id: string
  url: string
  max_downloads: number | null
  expires_at: string | null
}

describe('GET /share/:file_id is safe to repeat', () => {
  let t: TestApp
  let alice: TestUser

  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'open' })
    alice = await signUp(t.app)
  })
  afterAll(() => t.close())

  const newFile = async () => (await injectUpload(t.app, alice, 'a.txt', Buffer.from('abc'))).id
  const getShare = (fileId: string, query = '') =>
    t.app.inject({ url: `/share/${fileId}${query}`, headers: alice.auth })
  const linkCount = async (fileId: string) =>
    (await t.app.inject({ url: `/files/${fileId}/shares`, headers: alice.auth })).json().items
      .length as number
  const expire = (shareId: string) =>
    sql`update shares set expires_at = now() - interval '1 second' where id = ${shareId}`.execute(
      t.database.db,
    )

  it('answers 201 when it creates the link and 200 with the same link after', async () => {
    const fileId = await newFile()
    const first = await getShare(fileId)
    expect(first.statusCode, first.body).toBe(201)
    const again = await getShare(fileId)
    expect(again.statusCode).toBe(200)
    expect(again.json().url).toBe(first.json().url)
    expect(await linkCount(fileId)).toBe(1)
  })

  it('the same options give the same link, in any order; other options another one', async () => {
    const fileId = await newFile()
    const first = await getShare(fileId, '?max_downloads=2&expires_in=600')
    expect(first.statusCode, first.body).toBe(201)
    expect(first.json<Share>()).toMatchObject({ max_downloads: 2 })
    const same = await getShare(fileId, '?expires_in=600&max_downloads=2')
    expect(same.statusCode).toBe(200)
    expect(same.json().url).toBe(first.json().url)
    const other = await getShare(fileId, '?max_downloads=3&expires_in=600')
    expect(other.statusCode).toBe(201)
    expect(other.json().url).not.toBe(first.json().url)
    const plain = await getShare(fileId)
    expect(plain.statusCode).toBe(201)
    expect(new Set([first, other, plain].map((r) => r.json().url)).size).toBe(3)
    expect(await linkCount(fileId)).toBe(3)
  })

  it('POST /files/:id/shares still makes a new link every time', async () => {
    const fileId = await newFile()
    await getShare(fileId)
    for (let i = 0; i < 2; i++) {
      const res = await t.app.inject({
        method: 'POST',
        url: `/files/${fileId}/shares`,
        headers: alice.auth,
        payload: {},
      })
      expect(res.statusCode).toBe(201)
    }
    expect(await linkCount(fileId)).toBe(3)
    expect((await getShare(fileId)).statusCode).toBe(200)
  })

  it('a link that has expired or run out is replaced by a new one', async () => {
    const fileId = await newFile()
    const limited = (await getShare(fileId, '?max_downloads=1')).json<Share>()
    const download = await t.app.inject({ url: new URL(limited.url).pathname })
    expect(download.statusCode).toBe(200)
    const renewed = await getShare(fileId, '?max_downloads=1')
    expect(renewed.statusCode).toBe(201)
    expect(renewed.json().url).not.toBe(limited.url)

    const plain = (await getShare(fileId)).json<Share>()
    await expire(plain.id)
    const fresh = await getShare(fileId)
    expect(fresh.statusCode).toBe(201)
    expect(fresh.json().url).not.toBe(plain.url)
    expect((await getShare(fileId)).json().url).toBe(fresh.json().url)
  })

  it('50 identical GETs at once make one link, and exactly one of them says 201', async () => {
    for (const query of ['', '?expires_in=3600&max_downloads=5']) {
      const fileId = await newFile()
      const responses = await Promise.all(Array.from({ length: 50 }, () => getShare(fileId, query)))
      const statuses = responses.map((r) => r.statusCode)
      expect(
        statuses.filter((s) => s === 201),
        `query "${query}"`,
      ).toHaveLength(1)
      expect(statuses.filter((s) => s === 200)).toHaveLength(49)
      expect(new Set(responses.map((r) => r.json().url)).size).toBe(1)
      expect(await linkCount(fileId)).toBe(1)
    }
  })

  it('50 GETs at once for an expired link replace it with exactly one new link', async () => {
    const fileId = await newFile()
    const old = (await getShare(fileId)).json<Share>()
    await expire(old.id)
    const responses = await Promise.all(Array.from({ length: 50 }, () => getShare(fileId)))
    expect(responses.filter((r) => r.statusCode === 201)).toHaveLength(1)
    const urls = new Set(responses.map((r) => r.json().url))
    expect(urls.size).toBe(1)
    expect(urls.has(old.url)).toBe(false)
    // The expired one stays listed (the owner may still extend it) but is no longer handed out.
    expect(await linkCount(fileId)).toBe(2)
  })
})

describe('password-protected links answer 401 until the password is right', () => {
  let t: TestApp
  let alice: TestUser
  const password = 'open sesame'

  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'open' })
    alice = await signUp(t.app)
  })
  afterAll(() => t.close())

  const protectedLink = async (options: Record<string, unknown> = {}) => {
    const fileId = (await injectUpload(t.app, alice, 'p.txt', Buffer.from('secret'))).id
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: alice.auth,
      payload: { password, ...options },
    })
    expect(res.statusCode, res.body).toBe(201)
    const share = res.json<Share>()
    return { ...share, path: new URL(share.url).pathname }
  }
  const open = (path: string, headers: Record<string, string> = {}) =>
    t.app.inject({ url: path, headers })

  const expectOnlyAfterPassword = async (path: string, gone: string) => {
    for (const url of [path, `${path}/info`]) {
      const none = await open(url)
      expect(none.statusCode, `${url} without password: ${none.body}`).toBe(401)
      expect(none.json().code).toBe('share_password_required')
      const wrong = await open(url, { 'x-share-password': 'not it' })
      expect(wrong.statusCode, `${url} wrong password: ${wrong.body}`).toBe(401)
      expect(wrong.json().code).toBe('share_password_invalid')
      const right = await open(url, { 'x-share-password': password })
      expect(right.statusCode, `${url} right password`).toBe(410)
      expect(right.json().code).toBe(gone)
    }
  }

  it('an expired link', async () => {
    const link = await protectedLink()
    await sql`update shares set expires_at = now() - interval '1 second' where id = ${link.id}`.execute(
      t.database.db,
    )
    await expectOnlyAfterPassword(link.path, 'share_expired')
  })

  it('a used-up link', async () => {
    const link = await protectedLink({ max_downloads: 1 })
    const first = await open(link.path, { 'x-share-password': password })
    expect(first.statusCode).toBe(200)
    await expectOnlyAfterPassword(link.path, 'share_download_limit_reached')
  })

  it('a link whose file has expired, while the link row remains', async () => {
    const { boundary, stream } = multipartBody([
      { name: 'file', filename: 'brief.txt', body: Buffer.from('soon gone') },
    ])
    const upload = await t.app.inject({
      method: 'POST',
      url: '/upload?expires_in=1',
      headers: { ...alice.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: stream,
    })
    const link = (
      await t.app.inject({
        method: 'POST',
        url: `/files/${upload.json().id}/shares`,
        headers: alice.auth,
        payload: { password },
      })
    ).json<Share>()
    const path = new URL(link.url).pathname
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const none = await open(path)
    expect(none.statusCode, none.body).toBe(401)
    const right = await open(path, { 'x-share-password': password })
    expect(right.statusCode).toBe(404)
  })

  it('unknown and revoked links stay 404', async () => {
    const link = await protectedLink()
    const revoke = await t.app.inject({
      method: 'DELETE',
      url: `/shares/${link.id}`,
      headers: alice.auth,
    })
    expect(revoke.statusCode).toBe(204)
    expect((await open(link.path)).statusCode).toBe(404)
    expect((await open('/s/unknown-token-0123456789')).statusCode).toBe(404)
  })
})
