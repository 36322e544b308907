import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import type { TestApp } from '../helpers/build-test-app.js'
import { buildDriverApp } from '../helpers/driver-app.js'
import { injectUpload } from '../helpers/files.js'

interface Share {
  id: string
  file_id: string
  url: string
  expires_at: string | null
  max_downloads: number | null
  downloads: number
  has_password: boolean
}

describe.each(['local', 's3'] as const)('share links on the %s driver', (driver) => {
  let t: TestApp
  let alice: TestUser
  let bob: TestUser
  const content = Buffer.from('shared bytes 0123456789')

  beforeAll(async () => {
    t = await buildDriverApp(driver)
    alice = await signUp(t.app)
    bob = await signUp(t.app)
  })
  afterAll(() => t.close())

  const as = (user: TestUser) => user.auth
  const newFile = () => injectUpload(t.app, alice, 'shared.txt', content)
  const createShare = async (fileId: string, body: Record<string, unknown> = {}) => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: as(alice),
      payload: body,
    })
    expect(res.statusCode, res.body).toBe(201)
    return res.json<Share>()
  }
  const path = (share: Share) => new URL(share.url).pathname
  const fetchShare = (share: Share, headers: Record<string, string> = {}) =>
    t.app.inject({ url: path(share), headers })

  it('GET /share/:file_id returns the same default link every time, creating it once', async () => {
    const file = await newFile()
    const first = await t.app.inject({ url: `/share/${file.id}`, headers: as(alice) })
    expect(first.statusCode).toBe(201)
    const share = first.json<Share>()
    expect(share).toMatchObject({
      file_id: file.id,
      downloads: 0,
      has_password: false,
      expires_at: null,
    })
    expect(share.url).toMatch(/\/s\/[\w-]{43}$/)
    expect(share.url).not.toContain(file.id)
    const again = await Promise.all(
      [1, 2, 3].map(() => t.app.inject({ url: `/share/${file.id}`, headers: as(alice) })),
    )
    expect(new Set(again.map((r) => r.json().url))).toEqual(new Set([share.url]))
    const limited = await t.app.inject({
      url: `/share/${file.id}?max_downloads=2&expires_in=60`,
      headers: as(alice),
    })
    expect(limited.json()).toMatchObject({ max_downloads: 2 })
    expect(limited.json().url).not.toBe(share.url)
  })

  it('serves the bytes publicly with the download headers, and HEAD without counting', async () => {
    const file = await newFile()
    const share = await createShare(file.id)
    const res = await fetchShare(share)
    expect(res.statusCode).toBe(200)
    expect(res.rawPayload.equals(content)).toBe(true)
    expect(res.headers).toMatchObject({
      etag: `"${file.sha256}"`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': "sandbox; default-src 'none'",
      'accept-ranges': 'bytes',
    })
    expect(res.headers['content-disposition']).toContain('filename="shared.txt"')
    const head = await t.app.inject({ method: 'HEAD', url: path(share) })
    expect(head.statusCode).toBe(200)
    const range = await fetchShare(share, { range: 'bytes=7-11' })
    expect(range.statusCode).toBe(206)
    expect(range.body).toBe('bytes')
    const info = await t.app.inject({ url: `${path(share)}/info` })
    expect(info.json()).toEqual({
      name: 'shared.txt',
      size: content.length,
      content_type: 'text/plain',
      expires_at: null,
      downloads_remaining: null,
    })
    const listed = await t.app.inject({ url: `/files/${file.id}/shares`, headers: as(alice) })
    // Whole copies served: the full body is one; HEAD and /info send no bytes, and the
    // 5-byte range is only part of a second copy.
    expect(listed.json().items[0].downloads).toBe(1)
  })

  it('lists every link of a file, then edits and revokes one', async () => {
    const file = await newFile()
    const a = await createShare(file.id)
    const b = await createShare(file.id, { max_downloads: 5 })
    const list = await t.app.inject({ url: `/files/${file.id}/shares`, headers: as(alice) })
    expect(list.json().items.map((s: Share) => s.id)).toEqual([a.id, b.id])

    const edited = await t.app.inject({
      method: 'PATCH',
      url: `/shares/${b.id}`,
      headers: as(alice),
      payload: { max_downloads: null, expires_in: 120 },
    })
    expect(edited.statusCode).toBe(200)
    expect(edited.json()).toMatchObject({ max_downloads: null })
    expect(edited.json().expires_at).not.toBeNull()

    expect(
      (await t.app.inject({ method: 'DELETE', url: `/shares/${a.id}`, headers: as(alice) }))
        .statusCode,
    ).toBe(204)
    expect((await fetchShare(a)).statusCode).toBe(404)
    expect((await fetchShare(b)).statusCode).toBe(200)
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/shares/${a.id}`, headers: as(alice) }))
        .statusCode,
    ).toBe(404)
  })

  it('protects a link with a password given in a header or a form, never the URL', async () => {
    const file = await newFile()
    const share = await createShare(file.id, { password: 'open sesame' })
    expect(share.has_password).toBe(true)
    const none = await fetchShare(share)
    expect(none.statusCode).toBe(401)
    expect(none.json().code).toBe('share_password_required')
    const wrong = await fetchShare(share, { 'x-share-password': 'wrong' })
    expect(wrong.json().code).toBe('share_password_invalid')
    const right = await fetchShare(share, { 'x-share-password': 'open sesame' })
    expect(right.statusCode).toBe(200)
    expect(right.rawPayload.equals(content)).toBe(true)
    const form = await t.app.inject({
      method: 'POST',
      url: path(share),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'password=open+sesame',
    })
    expect(form.statusCode).toBe(200)
    expect((await t.app.inject({ url: `${path(share)}?password=open%20sesame` })).statusCode).toBe(
      401,
    )
    const cleared = await t.app.inject({
      method: 'PATCH',
      url: `/shares/${share.id}`,
      headers: as(alice),
      payload: { password: null },
    })
    expect(cleared.json().has_password).toBe(false)
    expect((await fetchShare(share)).statusCode).toBe(200)
  })

  it('rate limits wrong passwords per link and client', async () => {
    const file = await newFile()
    const share = await createShare(file.id, { password: 'right password' })
    for (let i = 0; i < 10; i++)
      expect((await fetchShare(share, { 'x-share-password': `guess ${i}` })).statusCode).toBe(401)
    const blocked = await fetchShare(share, { 'x-share-password': 'right password' })
    expect(blocked.statusCode).toBe(429)
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0)
  })

  it('answers 410 for an expired link before any worker has run', async () => {
    const file = await newFile()
    const share = await createShare(file.id, { expires_in: 60 })
    await t.database.db
      .updateTable('shares')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', share.id)
      .execute()
    const res = await fetchShare(share)
    expect(res.statusCode).toBe(410)
    expect(res.json().code).toBe('share_expired')
  })

  it('gives exactly one of 50 parallel downloads of a max_downloads=1 link', async () => {
    const file = await newFile()
    const share = await createShare(file.id, { max_downloads: 1 })
    const results = await Promise.all(Array.from({ length: 50 }, () => fetchShare(share)))
    const codes = results.map((r) => r.statusCode)
    expect(codes.filter((c) => c === 200)).toHaveLength(1)
    expect(codes.filter((c) => c === 410)).toHaveLength(49)
    expect((await fetchShare(share)).json().code).toBe('share_download_limit_reached')
  })

  it('tells how many whole copies are left, and moves the budget when the limit is edited', async () => {
    const file = await newFile()
    const share = await createShare(file.id, { max_downloads: 2 })
    const remaining = async () =>
      (await t.app.inject({ url: `${path(share)}/info` })).json().downloads_remaining
    expect(await remaining()).toBe(2)
    expect((await fetchShare(share)).statusCode).toBe(200)
    expect(await remaining()).toBe(1)
    // Part of the second copy is spent: no whole copy is left, but the rest of it is.
    expect((await fetchShare(share, { range: 'bytes=0-9' })).statusCode).toBe(206)
    expect(await remaining()).toBe(0)
    expect((await fetchShare(share)).statusCode).toBe(410)
    const rest = await fetchShare(share, { range: 'bytes=10-' })
    expect(rest.statusCode).toBe(206)
    expect(rest.rawPayload.equals(content.subarray(10))).toBe(true)
    expect((await fetchShare(share, { range: 'bytes=0-0' })).statusCode).toBe(410)

    const raised = await t.app.inject({
      method: 'PATCH',
      url: `/shares/${share.id}`,
      headers: as(alice),
      payload: { max_downloads: 3 },
    })
    expect(raised.statusCode).toBe(200)
    expect(await remaining()).toBe(1)
    expect((await fetchShare(share)).statusCode).toBe(200)
    expect((await fetchShare(share)).statusCode).toBe(410)
  })

  it('dies with its file', async () => {
    const file = await newFile()
    const share = await createShare(file.id)
    await t.app.inject({ method: 'DELETE', url: `/files/${file.id}`, headers: as(alice) })
    expect((await fetchShare(share)).statusCode).toBe(404)
    expect(
      await t.database.db.selectFrom('shares').select('id').where('id', '=', share.id).execute(),
    ).toEqual([])
  })

  it('refuses guessed tokens and bad options', async () => {
    expect(
      (await t.app.inject({ url: '/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).statusCode,
    ).toBe(404)
    expect((await t.app.inject({ url: '/s/short/info' })).statusCode).toBe(404)
    const file = await newFile()
    const bad = await t.app.inject({
      method: 'POST',
      url: `/files/${file.id}/shares`,
      headers: as(alice),
      payload: { max_downloads: 0 },
    })
    expect(bad.statusCode).toBe(400)
  })

  it("hides a user's links from everyone else", async () => {
    const file = await newFile()
    const share = await createShare(file.id)
    const attempts = [
      t.app.inject({ url: `/share/${file.id}`, headers: as(bob) }),
      t.app.inject({
        method: 'POST',
        url: `/files/${file.id}/shares`,
        headers: as(bob),
        payload: {},
      }),
      t.app.inject({ url: `/files/${file.id}/shares`, headers: as(bob) }),
      t.app.inject({
        method: 'PATCH',
        url: `/shares/${share.id}`,
        headers: as(bob),
        payload: { max_downloads: 1 },
      }),
      t.app.inject({ method: 'DELETE', url: `/shares/${share.id}`, headers: as(bob) }),
    ]
    for (const res of await Promise.all(attempts)) expect(res.statusCode).toBe(404)
    expect((await fetchShare(share)).statusCode).toBe(200)
    expect((await t.app.inject({ url: `/files/${file.id}/shares` })).statusCode).toBe(401)
  })
})
