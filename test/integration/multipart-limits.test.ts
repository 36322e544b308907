import { Readable } from 'node:stream'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { type HttpResult, httpRequest, type Part, upload } from '../helpers/multipart.js'

const MAX_UPLOAD = 100_000
const BOUNDARY = 'limits-test-boundary'

/** One file part with extra header lines: the helper in multipart.ts writes only two. */
function partWithHeaders(extra: string[], body = 'hello'): string {
  return [
    `--${BOUNDARY}`,
    'Content-Disposition: form-data; name="file"; filename="a.txt"',
    'Content-Type: text/plain',
    ...extra,
    '',
    body,
    `--${BOUNDARY}--`,
    '',
  ].join('\r\n')
}

describe('multipart limits', () => {
  let t: TestApp
  let base: string
  let user: TestUser

  beforeAll(async () => {
    t = await buildTestApp({ MAX_UPLOAD_BYTES: String(MAX_UPLOAD), MAX_PARTS_PER_UPLOAD: '20' })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    user = await signUp(t.app)
  })
  afterAll(() => t.close())

  // Each case starts from an empty account, so "nothing kept" is an empty table and store.
  beforeEach(async () => {
    await t.database.db.deleteFrom('files').execute()
    for await (const blob of t.store.list()) await t.store.delete(blob.key)
  })

  const kept = async () => {
    const rows = await t.database.db.selectFrom('files').select(['id', 'status']).execute()
    const blobs: string[] = []
    for await (const blob of t.store.list()) blobs.push(blob.key)
    return { rows: rows.filter((r) => r.status !== 'deleted'), blobs }
  }
  const nothing = { rows: [], blobs: [] }

  const send = (body: string | Readable, headers: Record<string, string> = {}) =>
    httpRequest(`${base}/upload`, {
      method: 'POST',
      headers: {
        ...user.auth,
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
        ...headers,
      },
      body,
    })

  const expectProblem = (res: HttpResult, status: number, code: string) => {
    expect(res.status, res.body.toString()).toBe(status)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json().code).toBe(code)
  }

  describe('part headers', () => {
    it('refuses a part with 2,000 header lines with 400', async () => {
      const lines = Array.from({ length: 2000 }, (_, i) => `X-Filler-${i}: ${i}`)
      expectProblem(await send(partWithHeaders(lines)), 400, 'invalid_upload')
      expect(await kept()).toEqual(nothing)
    })

    it('refuses a part with one 1 MiB header line with 400', async () => {
      // Streamed without a Content-Length: declared, its length alone would be refused (413).
      const text = partWithHeaders([`X-Big: ${'a'.repeat(1024 * 1024)}`])
      const res = await send(Readable.from([text]))
      expectProblem(res, 400, 'invalid_upload')
      expect(await kept()).toEqual(nothing)
    })

    it('refuses the same when the body arrives in small chunks (chunked encoding)', async () => {
      const lines = Array.from({ length: 200 }, (_, i) => `X-Filler-${i}: ${i}`)
      const text = partWithHeaders(lines)
      const chunks = text.match(/[\s\S]{1,7}/g) ?? []
      expectProblem(await send(Readable.from(chunks)), 400, 'invalid_upload')
      expect(await kept()).toEqual(nothing)
    })

    it('takes 20 header lines and a header block of 8 KiB, refuses 21 lines and 8 KiB + 1', async () => {
      const eighteen = Array.from({ length: 18 }, (_, i) => `X-Filler-${i}: ${i}`)
      expect((await send(partWithHeaders(eighteen))).status).toBe(201)
      const nineteen = [...eighteen, 'X-One-More: 1']
      expectProblem(await send(partWithHeaders(nineteen)), 400, 'invalid_upload')
      // Lines as sent, CRLFs included, from the first header to the blank line.
      const fixed = partWithHeaders(['X-Pad: ']).split('\r\n\r\n')[0]!.split(`${BOUNDARY}\r\n`)[1]!
      const pad = (extra: number) => 'p'.repeat(8192 - fixed.length + extra)
      expect((await send(partWithHeaders([`X-Pad: ${pad(0)}`]))).status).toBe(201)
      expectProblem(await send(partWithHeaders([`X-Pad: ${pad(1)}`])), 400, 'invalid_upload')
    })
  })

  describe('whole request', () => {
    const underMax = (n: number): Part[] =>
      Array.from({ length: n }, (_, i) => ({
        name: 'file',
        filename: `f${i}.bin`,
        body: Buffer.alloc(MAX_UPLOAD - 1, i),
      }))

    it('refuses 10 files just under MAX_UPLOAD_BYTES each in one request with 413', async () => {
      const res = await upload(base, user.accessToken, underMax(10))
      expectProblem(res, 413, 'request_too_large')
      expect(await kept()).toEqual(nothing)
    })

    it('takes one file of exactly MAX_UPLOAD_BYTES with fields around it', async () => {
      const res = await upload(base, user.accessToken, [
        { name: 'expires_in', value: '3600' },
        { name: 'file', filename: 'max.bin', body: Buffer.alloc(MAX_UPLOAD, 7) },
      ])
      expect(res.status, res.body.toString()).toBe(201)
    })

    it('refuses a declared Content-Length over the limit before reading the body', async () => {
      // Only the first bytes of the body ever come: an answer can only be given on the header.
      const never = new Readable({ read() {} })
      never.push(`--${BOUNDARY}\r\n`)
      const res = await send(never, { 'content-length': String(10 * MAX_UPLOAD) })
      never.destroy()
      expectProblem(res, 413, 'request_too_large')
      expect(await kept()).toEqual(nothing)
    })

    it('counts a chunked body as it streams and answers before the body ends', async () => {
      // Files under the per-file limit that add up to just over the request limit, then the
      // client goes quiet without ending the body.
      const head = (name: string) =>
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\n`
      const file = Buffer.alloc(90_000, 1)
      const chunks = [head('a'), file, `\r\n${head('b')}`, file, `\r\n${head('c')}`, file]
      const stalled = new Readable({
        read() {
          const next = chunks.shift()
          if (next) this.push(next)
        },
      })
      const res = await send(stalled)
      stalled.destroy()
      expectProblem(res, 413, 'request_too_large')
      expect(await kept()).toEqual(nothing)
    })

    it('keeps serving on the same server afterwards', async () => {
      const res = await upload(base, user.accessToken, underMax(1))
      expect(res.status).toBe(201)
    })
  })

  it('MAX_REQUEST_BYTES defaults to twice MAX_UPLOAD_BYTES and may not be below it', () => {
    const env = { DATA_DIR: '/tmp/x', MAX_UPLOAD_BYTES: '1000' }
    expect(parseConfig(env).maxRequestBytes).toBe(2000)
    expect(parseConfig({ ...env, MAX_REQUEST_BYTES: '1000' }).maxRequestBytes).toBe(1000)
    expect(() => parseConfig({ ...env, MAX_REQUEST_BYTES: '999' })).toThrow(ConfigError)
  })
})
