import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { multipartBody } from '../helpers/multipart.js'

interface Case {
  method: 'GET' | 'POST' | 'PATCH'
  url: string
  payload?: Record<string, unknown>
  /** Sent with a one-file multipart body. */
  upload?: boolean
  field: string
}

/** Non-finite and out-of-range numbers in every integer field the API takes. */
describe('integer fields refuse non-finite and out-of-range values', () => {
  let t: TestApp
  let alice: TestUser
  let fileId: string
  let shareId: string

  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'open' })
    alice = await signUp(t.app)
    fileId = (await injectUpload(t.app, alice, 'numbers.txt', Buffer.from('numbers'))).id
    const share = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: alice.auth,
      payload: {},
    })
    shareId = share.json().id
  })
  afterAll(() => t.close())

  const cases = (): Case[] => [
    ...['Infinity', '-Infinity', '1e999', '1000000001'].flatMap((value): Case[] => [
      {
        method: 'POST',
        url: `/files/${fileId}/shares`,
        payload: { max_downloads: value },
        field: 'max_downloads',
      },
      {
        method: 'PATCH',
        url: `/shares/${shareId}`,
        payload: { max_downloads: value },
        field: 'max_downloads',
      },
      { method: 'GET', url: `/share/${fileId}?max_downloads=${value}`, field: 'max_downloads' },
    ]),
    ...['Infinity', '-Infinity', '1e999', '315360001'].flatMap((value): Case[] => [
      { method: 'GET', url: `/share/${fileId}?expires_in=${value}`, field: 'expires_in' },
      {
        method: 'POST',
        url: `/files/${fileId}/shares`,
        payload: { expires_in: value },
        field: 'expires_in',
      },
      {
        method: 'PATCH',
        url: `/shares/${shareId}`,
        payload: { expires_in: value },
        field: 'expires_in',
      },
      {
        method: 'PATCH',
        url: `/files/${fileId}`,
        payload: { expires_in: value },
        field: 'expires_in',
      },
      { method: 'POST', url: `/upload?expires_in=${value}`, upload: true, field: 'expires_in' },
    ]),
    ...['/files', '/search'].flatMap((path) =>
      [
        ['limit', 'Infinity'],
        ['limit', '-Infinity'],
        ['min_size', 'Infinity'],
        ['min_size', '-Infinity'],
        ['max_size', 'Infinity'],
        ['max_size', '-Infinity'],
        ['min_size', '1e%2B21'],
        ['min_size', '1e999'],
        ['max_size', '9223372036854775808'],
        ['max_size', '9007199254740992'],
      ].map(
        ([field, value]): Case => ({
          method: 'GET',
          url: `${path}?${field}=${value}`,
          field: field!,
        }),
      ),
    ),
  ]

  it('answers every one with 400 problem+json naming the field', async () => {
    const failures: string[] = []
    for (const c of cases()) {
      const { boundary, stream } = multipartBody([
        { name: 'file', filename: 'a.txt', body: Buffer.from('a') },
      ])
      const res = await t.app.inject({
        method: c.method,
        url: c.url,
        headers: c.upload
          ? { ...alice.auth, 'content-type': `multipart/form-data; boundary=${boundary}` }
          : alice.auth,
        ...(c.upload ? { payload: stream } : c.payload ? { payload: c.payload } : {}),
      })
      const named =
        res.statusCode === 400 &&
        String(res.headers['content-type']).startsWith('application/problem+json') &&
        res.json().detail.includes(c.field)
      if (!named) {
        failures.push(`${c.method} ${c.url} ${JSON.stringify(c.payload ?? '')} → ${res.statusCode}`)
      }
    }
    expect(failures).toEqual([])
  })

  it('a JSON number too large for a double (1e999 parses as Infinity) is refused too', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: { ...alice.auth, 'content-type': 'application/json' },
      payload: '{"max_downloads": 1e999}',
    })
    expect(res.statusCode, res.body).toBe(400)
    expect(res.json().detail).toContain('max_downloads')
  })

  it('still accepts the documented bounds', async () => {
    const largest = await t.app.inject({
      url: `/files?min_size=0&max_size=${Number.MAX_SAFE_INTEGER}&limit=1000`,
      headers: alice.auth,
    })
    expect(largest.statusCode, largest.body).toBe(200)
    expect(largest.json().items).toHaveLength(1)
    const share = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: alice.auth,
      payload: { max_downloads: 1_000_000_000, expires_in: 315_360_000 },
    })
    expect(share.statusCode, share.body).toBe(201)
    expect(share.json().max_downloads).toBe(1_000_000_000)
  })

  it('a file part without a filename is refused with 400 invalid_upload, not a crash', async () => {
    for (const contentType of ['application/octet-stream', 'text/plain']) {
      const boundary = `----satchel${randomBytes(8).toString('hex')}`
      const body =
        `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n` +
        `Content-Type: ${contentType}\r\n\r\nhello\r\n--${boundary}--\r\n`
      const res = await t.app.inject({
        method: 'POST',
        url: '/upload',
        headers: { ...alice.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload: body,
      })
      expect(res.statusCode, `${contentType}: ${res.body}`).toBe(400)
      expect(res.json()).toMatchObject({ code: 'invalid_upload' })
      expect(res.json().detail).toMatch(/needs a filename/)
    }
  })
})

describe('access tokens are accepted only in their canonical compact form', () => {
  let t: TestApp
  let alice: TestUser

  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'open' })
    alice = await signUp(t.app)
  })
  afterAll(() => t.close())

  const me = (token: string) =>
    t.app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

  /** The same bytes spelled differently: other values in a segment's unused trailing bits. */
  const otherTrailingBits = (token: string) => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = token.at(-1)!
    // A 32-byte HS256 signature is 43 characters with 2 unused bits in the last one.
    return `${token.slice(0, -1)}${alphabet[alphabet.indexOf(last) ^ 1]}`
  }

  it('refuses a padded or re-spelled token with 401, even after the real one was used', async () => {
    const token = alice.accessToken
    expect((await me(token)).statusCode).toBe(200)
    const [header, payload, signature] = token.split('.')
    const variants = [
      `${token}=`,
      `${token}==`,
      otherTrailingBits(token),
      `${header}=.${payload}.${signature}`,
      `${header}.${payload}=.${signature}`,
    ]
    const answers = await Promise.all(variants.map(async (variant) => (await me(variant)).json()))
    expect(answers.map((body) => body.code)).toEqual(variants.map(() => 'not_authenticated'))
    expect((await me(token)).statusCode).toBe(200)
  })
})
