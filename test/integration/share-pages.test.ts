import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

// What Chromium and Firefox send when a person opens a link.
const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'
const FORM = 'application/x-www-form-urlencoded'
const PASSWORD = 'right password'
// A name cannot hold a '/', so no closing tag; an opening one is enough to run script.
const HOSTILE_NAME = `<script>alert(1)<script><img src=x onerror=alert(2)>"quoted" & 'single'.html`

describe('share links in a browser', () => {
  let t: TestApp
  let alice: TestUser

  beforeAll(async () => {
    t = await buildTestApp()
    alice = await signUp(t.app)
  })
  afterAll(() => t.close())

  const newShare = async (name: string, content: Buffer, options: Record<string, unknown> = {}) => {
    // The test's multipart filename cannot carry a quote: such a name is given by a rename.
    const file = await injectUpload(t.app, alice, name.replaceAll('"', ''), content)
    if (file.name !== name) {
      const renamed = await t.app.inject({
        method: 'PATCH',
        url: `/files/${file.id}`,
        headers: alice.auth,
        payload: { name },
      })
      expect(renamed.statusCode, renamed.body).toBe(200)
    }
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${file.id}/shares`,
      headers: alice.auth,
      payload: options,
    })
    expect(res.statusCode, res.body).toBe(201)
    const share = res.json<{ id: string; url: string }>()
    return { id: share.id, path: new URL(share.url).pathname }
  }
  const open = (path: string, accept?: string) =>
    t.app.inject({ url: path, headers: accept ? { accept } : {} })
  const postPassword = (path: string, password: string) =>
    t.app.inject({
      method: 'POST',
      url: path,
      headers: { accept: BROWSER, 'content-type': FORM },
      payload: new URLSearchParams({ password }).toString(),
    })
  const expire = (shareId: string) =>
    sql`update shares set expires_at = now() - interval '1 second' where id = ${shareId}`.execute(
      t.database.db,
    )

  it('a browser gets a page about the file; programs get the bytes from the same URL', async () => {
    const bytes = Buffer.from('hello from satchel\n')
    const { path } = await newShare('notes.txt', bytes, { max_downloads: 3, expires_in: 3600 })

    const page = await open(path, BROWSER)
    expect(page.statusCode, page.body).toBe(200)
    expect(page.headers['content-type']).toMatch(/^text\/html; charset=utf-8/)
    expect(page.headers.vary).toMatch(/accept/i)
    expect(page.headers['cache-control']).toBe('no-store')
    expect(page.body).toContain('notes.txt')
    expect(page.body).toContain('19 bytes')
    expect(page.body).toContain('text/plain')
    expect(page.body).toMatch(/<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">/)
    expect(page.body).toMatch(/<dt>Downloads left<\/dt><dd>3<\/dd>/)
    const token = path.split('/').pop()
    expect(page.body).toContain(`href="./${token}?download=1"`)

    for (const accept of [undefined, '*/*', 'application/octet-stream']) {
      const res = await open(path, accept)
      expect(res.statusCode, `Accept: ${accept}`).toBe(200)
      expect(res.rawPayload.equals(bytes)).toBe(true)
      expect(res.headers.vary).toMatch(/accept/i)
    }
  })

  it('viewing the page spends nothing from the download limit; the Download link does', async () => {
    const bytes = Buffer.from('one copy only')
    const { path } = await newShare('once.txt', bytes, { max_downloads: 1 })
    for (let i = 0; i < 5; i++) expect((await open(path, BROWSER)).statusCode).toBe(200)

    const download = await open(`${path}?download=1`, BROWSER)
    expect(download.statusCode).toBe(200)
    expect(download.rawPayload.equals(bytes)).toBe(true)
    expect(download.headers['content-disposition']).toMatch(/^attachment; filename="once.txt"/)

    const after = await open(path, BROWSER)
    expect(after.statusCode).toBe(410)
    expect(after.body).toMatch(/reached its download limit/)
    expect(after.body).not.toContain('once.txt')
  })

  it('the page has a strict CSP: no script, only its own hashed style block', async () => {
    const { path } = await newShare('csp.txt', Buffer.from('x'))
    const page = await open(path, BROWSER)
    const csp = page.headers['content-security-policy'] as string
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("form-action 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('script-src')
    expect(page.headers['referrer-policy']).toBe('no-referrer')
    const styles = [...page.body.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!)
    expect(styles).toHaveLength(1)
    const hash = createHash('sha256').update(styles[0]!).digest('base64')
    expect(csp).toContain(`style-src 'sha256-${hash}'`)
    expect(page.body).not.toMatch(/<script|\son\w+=/i)
  })

  it('escapes every value: a hostile file name is shown as text', async () => {
    const { path } = await newShare(HOSTILE_NAME, Buffer.from('<b>hi</b>'))
    const page = await open(path, BROWSER)
    expect(page.statusCode).toBe(200)
    expect(page.body).not.toMatch(/<script|<img|"quoted"/)
    expect(page.body).toContain(
      '&lt;script&gt;alert(1)&lt;script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;quoted&quot; &amp; &#39;single&#39;.html',
    )
  })

  it('a password link asks for the password and reveals nothing about the file', async () => {
    const bytes = Buffer.from('secret bytes')
    const { path } = await newShare('secret-plans.txt', bytes, { password: PASSWORD })

    const ask = await open(path, BROWSER)
    expect(ask.statusCode).toBe(401)
    expect(ask.headers['content-type']).toMatch(/^text\/html/)
    expect(ask.body).toMatch(/<form method="post" action="[^"]+">/)
    expect(ask.body).toMatch(/<label for="password">/)
    expect(ask.body).toMatch(/<input id="password" name="password" type="password"[^>]* required/)
    for (const secret of ['secret-plans', '12 bytes', 'text/plain']) {
      expect(ask.body).not.toContain(secret)
    }

    const wrong = await postPassword(path, 'not it')
    expect(wrong.statusCode).toBe(401)
    expect(wrong.body).toMatch(/role="alert"[^>]*>[^<]*password is incorrect/)
    expect(wrong.body).not.toContain('secret-plans')
    expect(wrong.body).not.toContain('not it')

    const right = await postPassword(path, PASSWORD)
    expect(right.statusCode).toBe(200)
    expect(right.rawPayload.equals(bytes)).toBe(true)
    expect(right.headers['content-disposition']).toMatch(/^attachment/)
  })

  it('after too many wrong passwords the page says how long to wait', async () => {
    const { path } = await newShare('locked.txt', Buffer.from('x'), { password: PASSWORD })
    for (let i = 0; i < 10; i++)
      expect((await postPassword(path, `guess ${i}`)).statusCode).toBe(401)
    const locked = await postPassword(path, PASSWORD)
    expect(locked.statusCode).toBe(429)
    const wait = Number(locked.headers['retry-after'])
    expect(wait).toBeGreaterThan(0)
    expect(locked.body).toMatch(/Too many wrong passwords/)
    expect(locked.body).toContain(`${Math.ceil(wait / 60)} minute`)
    expect(locked.body).not.toContain('locked.txt')
    const reopened = await open(path, BROWSER)
    expect(reopened.statusCode).toBe(429)
  })

  it('expired, used-up, revoked and unknown links each get their own page and status', async () => {
    const expired = await newShare('expired-file.txt', Buffer.from('x'))
    await expire(expired.id)
    const protectedExpired = await newShare('hidden-file.txt', Buffer.from('x'), {
      password: PASSWORD,
    })
    await expire(protectedExpired.id)
    const revoked = await newShare('revoked-file.txt', Buffer.from('x'))
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/shares/${revoked.id}`,
      headers: alice.auth,
    })
    expect(del.statusCode).toBe(204)

    const cases = [
      [expired.path, 410, /This link has expired/, 'expired-file'],
      [revoked.path, 404, /no such link/i, 'revoked-file'],
      ['/s/unknown-token', 404, /no such link/i, ''],
    ] as const
    for (const [path, status, text, name] of cases) {
      const page = await open(path, BROWSER)
      expect(page.statusCode, path).toBe(status)
      expect(page.headers['content-type']).toMatch(/^text\/html/)
      expect(page.body).toMatch(text)
      expect(page.body).toMatch(/<h1>/)
      if (name) expect(page.body).not.toContain(name)
      // Programs keep their problem+json.
      const api = await open(path, '*/*')
      expect(api.statusCode).toBe(status)
      expect(api.headers['content-type']).toMatch(/^application\/problem\+json/)
    }
    // Whether the link asks for its password first or says it has expired, the page names
    // nothing of the file.
    const hidden = await open(protectedExpired.path, BROWSER)
    expect([401, 410]).toContain(hidden.statusCode)
    expect(hidden.body).not.toContain('hidden-file')
  })

  it('the Download link of a page that has since expired shows the expired page', async () => {
    const { id, path } = await newShare('late.txt', Buffer.from('x'))
    await expire(id)
    const res = await open(`${path}?download=1`, BROWSER)
    expect(res.statusCode).toBe(410)
    expect(res.headers['content-type']).toMatch(/^text\/html/)
  })
})
