import { createHash, createHmac } from 'node:crypto'
import { Transform } from 'node:stream'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { httpRequest, type Part, upload } from '../helpers/multipart.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')
const PNG = Buffer.from(
  '89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6300010000050001',
  'hex',
)

describe.each(['local', 's3'] as const)('files on the %s driver', (driver) => {
  let t: TestApp
  let s3: S3TestServer | undefined
  let base: string
  let alice: TestUser
  let bob: TestUser

  beforeAll(async () => {
    s3 = driver === 's3' ? await startS3Server() : undefined
    t = await buildTestApp(s3 ? s3.env : {})
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    alice = await signUp(t.app)
    bob = await signUp(t.app)
  })
  afterAll(async () => {
    await t.close()
    await s3?.close()
  })

  const get = (path: string, user: TestUser | undefined, headers: Record<string, string> = {}) =>
    httpRequest(`${base}${path}`, { headers: { ...(user ? user.auth : {}), ...headers } })
  const send = (method: string, path: string, user: TestUser, body?: unknown) =>
    httpRequest(`${base}${path}`, {
      method,
      headers: { ...user.auth, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    })
  const uploadOne = async (user: TestUser, filename: string, body: Buffer, extra: Part[] = []) => {
    const res = await upload(base, user.accessToken, [...extra, { name: 'file', filename, body }])
    expect(res.status, res.body.toString()).toBe(201)
    return res.json<{ id: string; url: string; sha256: string; size: number; name: string }>()
  }

  it('round-trips a file over real HTTP: upload, list, get, download byte for byte', async () => {
    const data = Buffer.concat([Buffer.from('hello satchel\n'), Buffer.alloc(300_000, 7)])
    const file = await uploadOne(alice, 'notes.txt', data)
    expect(file).toMatchObject({
      name: 'notes.txt',
      size: data.length,
      sha256: sha256(data),
      content_type: 'text/plain',
    })

    const list = (await get('/files', alice)).json<{ items: { id: string }[] }>()
    expect(list.items.map((f) => f.id)).toContain(file.id)
    expect((await get(`/files/${file.id}`, alice)).json()).toMatchObject({
      id: file.id,
      sha256: sha256(data),
    })

    const content = await get(`/files/${file.id}/content`, alice)
    expect(content.status).toBe(200)
    expect(sha256(content.body)).toBe(sha256(data))
    expect(content.headers).toMatchObject({
      'content-length': String(data.length),
      etag: `"${sha256(data)}"`,
      'accept-ranges': 'bytes',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "sandbox; default-src 'none'",
      'content-disposition': `attachment; filename="notes.txt"; filename*=UTF-8''notes.txt`,
    })
  })

  it('streams a 100 MB upload without holding it in memory', async () => {
    const { generatedBytes } = await import('../helpers/multipart.js')
    const size = 100 * 1024 * 1024
    const hash = createHash('sha256')
    const body = generatedBytes(size).pipe(
      new Transform({
        transform(chunk, _, done) {
          hash.update(chunk)
          done(null, chunk)
        },
      }),
    )
    const before = process.memoryUsage().rss
    let peak = before
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss)
    }, 20)
    const res = await upload(base, alice.accessToken, [{ name: 'file', filename: 'big.bin', body }])
    clearInterval(sampler)
    expect(res.status).toBe(201)
    expect(res.json()).toMatchObject({ size, sha256: hash.digest('hex') })
    // Client and server share this process: buffering the body anywhere would add ≥ 100 MiB.
    // On S3, lib-storage holds up to queueSize + 1 parts of 5 MiB and s3rver runs here too. On
    // Node 24 spent Buffers wait for a full GC, which V8 starts at ~64 MiB of external memory:
    // the local driver peaked at +66–75 MiB there (+22–38 MiB on Node 20).
    const budgetMiB = 96
    expect((peak - before) / 2 ** 20).toBeLessThan(budgetMiB)
  }, 120_000)

  it('takes many uploads at once', async () => {
    const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(256 * 1024 + i, i))
    const results = await Promise.all(
      bodies.map((b, i) =>
        upload(base, bob.accessToken, [{ name: 'file', filename: `p${i}.bin`, body: b }]),
      ),
    )
    expect(results.map((r) => r.status)).toEqual(bodies.map(() => 201))
    const hashes = results.map((r) => r.json().sha256)
    expect(hashes).toEqual(bodies.map(sha256))
  })

  it('stores several files from one request and applies an expires_in field', async () => {
    const res = await upload(base, alice.accessToken, [
      { name: 'file', filename: 'a.txt', body: Buffer.from('a') },
      { name: 'expires_in', value: '3600' },
      { name: 'file', filename: 'b.txt', body: Buffer.from('b') },
    ])
    expect(res.status).toBe(201)
    const { items } = res.json<{ items: { name: string; expires_at: string | null }[] }>()
    expect(items.map((f) => f.name)).toEqual(['a.txt', 'b.txt'])
    expect(items[0]?.expires_at).toBeNull()
    const expires = new Date(items[1]!.expires_at!).getTime()
    expect(Math.abs(expires - (Date.now() + 3600_000))).toBeLessThan(60_000)
  })

  it('detects the type from the bytes, not the name or the claimed type', async () => {
    const res = await upload(base, alice.accessToken, [
      { name: 'file', filename: 'innocent.txt', contentType: 'text/plain', body: PNG },
    ])
    expect(res.json()).toMatchObject({ content_type: 'image/png' })
  })

  describe('ranges and caching', () => {
    const data = Buffer.from('0123456789abcdefghij')
    let id: string
    beforeAll(async () => {
      id = (await uploadOne(alice, 'range.txt', data)).id
    })
    const range = (spec: string) => get(`/files/${id}/content`, alice, { range: spec })

    it.each([
      ['bytes=0-0', '0', 'bytes 0-0/20'],
      ['bytes=5-9', '56789', 'bytes 5-9/20'],
      ['bytes=-5', 'fghij', 'bytes 15-19/20'],
      ['bytes=15-', 'fghij', 'bytes 15-19/20'],
      ['bytes=18-100', 'ij', 'bytes 18-19/20'],
    ])('%s → 206 %s', async (spec, body, contentRange) => {
      const res = await range(spec)
      expect(res.status).toBe(206)
      expect(res.body.toString()).toBe(body)
      expect(res.headers['content-range']).toBe(contentRange)
      expect(res.headers['content-length']).toBe(String(body.length))
    })

    it('answers a range past the end with 416 and the size', async () => {
      const res = await range('bytes=20-30')
      expect(res.status).toBe(416)
      expect(res.headers['content-range']).toBe('bytes */20')
    })

    it('ignores a malformed or multiple range and sends everything', async () => {
      expect((await range('bytes=9-3')).status).toBe(200)
      expect((await range('items=0-1')).status).toBe(200)
      expect((await range('bytes=0-1,3-4')).body.toString()).toBe(data.toString())
    })

    it('answers a matching If-None-Match with 304 and no body', async () => {
      const etag = `"${sha256(data)}"`
      const res = await get(`/files/${id}/content`, alice, { 'if-none-match': etag })
      expect(res.status).toBe(304)
      expect(res.body.length).toBe(0)
      expect(
        (await get(`/files/${id}/content`, alice, { 'if-none-match': '"other"' })).status,
      ).toBe(200)
    })

    it('sends the whole file when If-Range no longer matches', async () => {
      const res = await get(`/files/${id}/content`, alice, {
        range: 'bytes=0-0',
        'if-range': '"stale"',
      })
      expect(res.status).toBe(200)
    })
  })

  describe('signed URLs', () => {
    it('download without a token, and refuse tampering or expiry', async () => {
      const data = Buffer.from('signed content')
      const file = await uploadOne(alice, 's.txt', data)
      const url = new URL(file.url)
      expect(url.searchParams.get('signature')).toBeTruthy()
      const ok = await get(`${url.pathname}${url.search}`, undefined)
      expect(ok.status).toBe(200)
      expect(ok.body.toString()).toBe('signed content')

      const expires = Number(url.searchParams.get('expires'))
      const sig = url.searchParams.get('signature')!
      const tampered = await get(
        `${url.pathname}?expires=${expires + 3600}&signature=${sig}`,
        undefined,
      )
      expect(tampered.status).toBe(403)
      expect(tampered.json().code).toBe('invalid_signature')
      const other = (await uploadOne(alice, 'o.txt', data)).id
      expect(
        (await get(`/files/${other}/content?expires=${expires}&signature=${sig}`, undefined))
          .status,
      ).toBe(403)
      expect((await get(`/files/${file.id}/content`, undefined)).status).toBe(401)
    })

    it('on a listed page each download their own file, and a signature moved to another is refused', async () => {
      const user = await signUp(t.app)
      const contents = ['first', 'second', 'third'].map((text) => Buffer.from(text))
      for (const [i, data] of contents.entries()) await uploadOne(user, `page-${i}.txt`, data)
      // Pages of two, so one page's last file is read to tell a next page exists.
      type Page = { items: { url: string }[]; next_cursor: string | null }
      const page = (cursor?: string) =>
        get(`/files?sort=name&order=asc&limit=2${cursor ? `&cursor=${cursor}` : ''}`, user)
      const firstPage = (await page()).json<Page>()
      const items = [...firstPage.items, ...(await page(firstPage.next_cursor!)).json<Page>().items]
      expect(items).toHaveLength(3)
      for (const [i, item] of items.entries()) {
        const url = new URL(item.url)
        const res = await get(`${url.pathname}${url.search}`, undefined)
        expect(res.status).toBe(200)
        expect(res.body).toEqual(contents[i])
      }
      const [first, second] = items.map((item) => new URL(item.url))
      const moved = `${first!.pathname}?expires=${second!.searchParams.get('expires')}&signature=${second!.searchParams.get('signature')}`
      expect((await get(moved, undefined)).status).toBe(403)
    })

    it('signed with an HMAC, as before tags, still download until they expire', async () => {
      const file = await uploadOne(alice, 'legacy.txt', Buffer.from('legacy link'))
      const key = createHmac('sha256', t.config.jwtSecret!)
        .update('satchel:signed-download-url')
        .digest()
      const sign = (expires: number) =>
        createHmac('sha256', key).update(`${file.id}\n${expires}`).digest('base64url')
      const expires = Math.floor(Date.now() / 1000) + 600
      const ok = await get(
        `/files/${file.id}/content?expires=${expires}&signature=${sign(expires)}`,
        undefined,
      )
      expect(ok.status).toBe(200)
      expect(ok.body.toString()).toBe('legacy link')
      const past = Math.floor(Date.now() / 1000) - 1
      const expired = await get(
        `/files/${file.id}/content?expires=${past}&signature=${sign(past)}`,
        undefined,
      )
      expect(expired.json().code).toBe('signed_url_expired')
    })

    it('stay the same for a while and live 90–100% of their TTL', async () => {
      const { SignedUrls } = await import('../../src/files/signed-urls.js')
      const signer = new SignedUrls(t.config.jwtSecret!, base, 3600)
      const id = '6f1c3b1e-8a7d-4c2b-9e0f-1a2b3c4d5e6f'
      const expiresOf = (url: string) => Number(new URL(url).searchParams.get('expires'))
      const at = Date.UTC(2030, 0, 1, 12, 0, 1)

      expect(signer.contentUrl(id, at)).toBe(signer.contentUrl(id, at + 60_000))
      for (let now = at; now < at + 3_600_000; now += 7_000) {
        const lifetime = expiresOf(signer.contentUrl(id, now)) - now / 1000
        expect(lifetime).toBeGreaterThan(0.9 * 3600)
        expect(lifetime).toBeLessThanOrEqual(3600)
      }
    })

    it('expire', async () => {
      const { SignedUrls } = await import('../../src/files/signed-urls.js')
      const file = await uploadOne(alice, 'old.txt', Buffer.from('x'))
      const signer = new SignedUrls(t.config.jwtSecret!, base, 60)
      const stale = new URL(signer.contentUrl(file.id, Date.now() - 120_000))
      const res = await get(`${stale.pathname}${stale.search}`, undefined)
      expect(res.status).toBe(403)
      expect(res.json().code).toBe('signed_url_expired')
    })
  })

  describe('limits and bad input', () => {
    let small: TestApp
    let smallBase: string
    let user: TestUser
    beforeAll(async () => {
      small = await buildTestApp({
        ...(s3 ? s3.env : {}),
        MAX_UPLOAD_BYTES: '1000',
        MAX_PARTS_PER_UPLOAD: '3',
        // These cases test the other limits; multipart-limits.test.ts tests the request's.
        MAX_REQUEST_BYTES: '10000000',
      })
      smallBase = await small.app.listen({ port: 0, host: '127.0.0.1' })
      user = await signUp(small.app)
    })
    afterAll(() => small.close())

    const fileRows = () => small.database.db.selectFrom('files').select(['id', 'status']).execute()
    // The S3 bucket is shared with the other app of this suite: compare against a snapshot.
    let existing = new Set<string>()
    const newBlobs = async () => {
      const keys: string[] = []
      for await (const b of small.store.list()) if (!existing.has(b.key)) keys.push(b.key)
      return keys
    }
    beforeEach(async () => {
      existing = new Set()
      for await (const b of small.store.list()) existing.add(b.key)
    })

    it('refuses a file over MAX_UPLOAD_BYTES with 413 and leaves nothing behind', async () => {
      const res = await upload(smallBase, user.accessToken, [
        { name: 'file', filename: 'big', body: Buffer.alloc(5000) },
      ])
      expect(res.status).toBe(413)
      expect(res.json().code).toBe('payload_too_large')
      expect(await fileRows()).toEqual([])
      expect(await newBlobs()).toEqual([])
    })

    it('undoes the whole request when a later file fails', async () => {
      const res = await upload(smallBase, user.accessToken, [
        { name: 'file', filename: 'ok', body: Buffer.alloc(10) },
        { name: 'file', filename: 'big', body: Buffer.alloc(5000) },
      ])
      expect(res.status).toBe(413)
      expect((await fileRows()).filter((r) => r.status !== 'deleted')).toEqual([])
      expect(await newBlobs()).toEqual([])
    })

    it('refuses a request of 10,000 tiny parts quickly', async () => {
      const parts: Part[] = Array.from({ length: 10_000 }, (_, i) => ({
        name: 'file',
        filename: `f${i}`,
        body: Buffer.from('x'),
      }))
      const started = Date.now()
      const res = await upload(smallBase, user.accessToken, parts)
      expect(res.status).toBe(413)
      expect(res.json().code).toBe('too_many_parts')
      expect(Date.now() - started).toBeLessThan(5000)
      expect(await fileRows()).toEqual([])
    })

    it('answers a truncated body with 400 and keeps serving', async () => {
      const boundary = 'xyz'
      const res = await httpRequest(`${smallBase}/upload`, {
        method: 'POST',
        headers: { ...user.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
        body: `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.txt"\r\n\r\npartial data`,
      })
      expect(res.status).toBe(400)
      expect(res.json().code).toBe('invalid_upload')
      expect((await httpRequest(`${smallBase}/healthz`)).status).toBe(200)
      expect(await fileRows()).toEqual([])
    })

    it('refuses a body that is not multipart, and one with no file', async () => {
      const json = await httpRequest(`${smallBase}/upload`, {
        method: 'POST',
        headers: { ...user.auth, 'content-type': 'application/json' },
        body: '{}',
      })
      expect(json.status).toBe(415)
      const empty = await upload(smallBase, user.accessToken, [{ name: 'expires_in', value: '60' }])
      expect(empty.status).toBe(400)
      const bad = await upload(smallBase, user.accessToken, [
        { name: 'expires_in', value: 'soon' },
        { name: 'file', filename: 'a', body: Buffer.from('a') },
      ])
      expect(bad.status).toBe(400)
      expect(bad.json().code).toBe('invalid_expiry')
    })

    it('needs authentication', async () => {
      const res = await upload(smallBase, 'not-a-token', [
        { name: 'file', filename: 'a', body: Buffer.from('a') },
      ])
      expect(res.status).toBe(401)
    })
  })

  describe('hostile file names', () => {
    it.each([
      ['../../x', 'x'],
      ['..\\x', 'x'],
      ['dir/sub/report.pdf', 'report.pdf'],
    ])('keeps only the last segment of %j', async (filename, stored) => {
      const res = await upload(base, alice.accessToken, [
        { name: 'file', filename, body: Buffer.from('n') },
      ])
      expect(res.status).toBe(201)
      expect(res.json().name).toBe(stored)
    })

    it.each([
      ['NUL', 'a\u0000b.txt'],
      ['RTL override', 'invoice\u202Etxt.exe'],
      ['300 bytes', `${'n'.repeat(296)}.txt`],
      ['control character', 'a\u0007b'],
    ])('refuses a name with %s', async (_, filename) => {
      const res = await upload(base, alice.accessToken, [
        { name: 'file', filename, body: Buffer.from('n') },
      ])
      expect(res.status).toBe(400)
      expect(res.json().code).toBe('invalid_file_name')
    })

    it('serves a non-ASCII name with an ASCII fallback and filename*', async () => {
      const file = await uploadOne(alice, 'résumé.txt', Buffer.from('r'))
      expect(file.name).toBe('résumé.txt')
      await send('PATCH', `/files/${file.id}`, alice, { name: 'résumé "final".txt' })
      const res = await get(`/files/${file.id}/content`, alice)
      expect(res.headers['content-disposition']).toBe(
        `attachment; filename="r_sum_ _final_.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.txt`,
      )
    })
  })

  describe('rename, expiry and delete', () => {
    it('renames, refusing path-like names', async () => {
      const file = await uploadOne(alice, 'before.txt', Buffer.from('x'))
      const res = await send('PATCH', `/files/${file.id}`, alice, { name: 'after.txt' })
      expect(res.status).toBe(200)
      expect(res.json().name).toBe('after.txt')
      expect((await get(`/files/${file.id}`, alice)).json().name).toBe('after.txt')
      expect(
        (await send('PATCH', `/files/${file.id}`, alice, { name: '../etc/passwd' })).status,
      ).toBe(400)
      expect((await send('PATCH', `/files/${file.id}`, alice, {})).status).toBe(400)
    })

    it('sets and clears an expiry; an expired file vanishes at once', async () => {
      const file = await uploadOne(alice, 'exp.txt', Buffer.from('x'))
      const set = await send('PATCH', `/files/${file.id}`, alice, { expires_in: 60 })
      expect(set.json().expires_at).not.toBeNull()
      const cleared = await send('PATCH', `/files/${file.id}`, alice, { expires_at: null })
      expect(cleared.json().expires_at).toBeNull()
      expect(
        (await send('PATCH', `/files/${file.id}`, alice, { expires_at: '2000-01-01T00:00:00Z' }))
          .status,
      ).toBe(400)

      await t.database.db
        .updateTable('files')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', file.id)
        .execute()
      expect((await get(`/files/${file.id}`, alice)).status).toBe(404)
      expect((await get(`/files/${file.id}/content`, alice)).status).toBe(404)
      const list = (await get('/files?limit=1000', alice)).json<{ items: { id: string }[] }>()
      expect(list.items.map((f) => f.id)).not.toContain(file.id)
    })

    it('deletes: gone for every reader at once, and its blob removed', async () => {
      const file = await uploadOne(alice, 'gone.txt', Buffer.from('bye'))
      const row = await t.database.db
        .selectFrom('files')
        .select('storage_key')
        .where('id', '=', file.id)
        .executeTakeFirstOrThrow()
      expect((await send('DELETE', `/files/${file.id}`, alice)).status).toBe(204)
      expect((await get(`/files/${file.id}`, alice)).status).toBe(404)
      const signed = new URL(file.url)
      expect((await get(`${signed.pathname}${signed.search}`, undefined)).status).toBe(404)
      expect((await send('DELETE', `/files/${file.id}`, alice)).status).toBe(404)
      expect(await t.store.head(row.storage_key)).toBeUndefined()
    })
  })

  describe('pagination', () => {
    it('walks every file exactly once, newest first', async () => {
      const carol = await signUp(t.app)
      for (let i = 0; i < 7; i++)
        await upload(base, carol.accessToken, [
          { name: 'file', filename: `f${i}`, body: Buffer.from([i]) },
        ])
      const seen: string[] = []
      let cursor: string | null = null
      do {
        const query: string = cursor ? `&cursor=${cursor}` : ''
        const page = (await get(`/files?limit=3${query}`, carol)).json<{
          items: { name: string }[]
          next_cursor: string | null
        }>()
        seen.push(...page.items.map((f) => f.name))
        cursor = page.next_cursor
      } while (cursor)
      expect(seen).toEqual(['f6', 'f5', 'f4', 'f3', 'f2', 'f1', 'f0'])
      expect((await get('/files?cursor=garbage', carol)).status).toBe(400)
      expect((await get('/files?limit=1001', carol)).status).toBe(400)
    })
  })

  describe("another user's files", () => {
    it('are 404 on every route', async () => {
      const file = await uploadOne(alice, 'private.txt', Buffer.from('secret'))
      const expect404 = async (res: Promise<{ status: number }>) =>
        expect((await res).status).toBe(404)
      await expect404(get(`/files/${file.id}`, bob))
      await expect404(get(`/files/${file.id}/content`, bob))
      await expect404(send('PATCH', `/files/${file.id}`, bob, { name: 'mine.txt' }))
      await expect404(send('DELETE', `/files/${file.id}`, bob))
      const list = (await get('/files?limit=1000', bob)).json<{ items: { id: string }[] }>()
      expect(list.items.map((f) => f.id)).not.toContain(file.id)
      expect((await get(`/files/${file.id}`, alice)).json().name).toBe('private.txt')
    })
  })
})
