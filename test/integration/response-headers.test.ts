import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { multipartBody } from '../helpers/multipart.js'

const SANDBOX = "sandbox; default-src 'none'"
const SHARE_PASSWORD = 'share-password-41c2'
const METRICS_TOKEN = 'metrics-token-0123456789'
/** Headers that describe a file's bytes: an error response must carry none of them. */
const REPRESENTATION = ['content-disposition', 'etag', 'last-modified', 'accept-ranges']

// Routes the OpenAPI document leaves out on purpose.
const HIDDEN = ['GET /openapi.json', 'GET /docs']

type Kind = 'json' | 'content' | 'empty'
interface RouteCase {
  /** Sends the request that succeeds; `auth` is the bearer header, or none. */
  send(auth: Record<string, string>): InjectOptions
  kind: Kind
  /** Needs the bearer token (401 without it). */
  bearer?: boolean
  /** Whose token the request that succeeds carries, if not the main user's. */
  as?: () => TestUser
}

describe('response headers on every route', () => {
  let t: TestApp
  let user: TestUser
  let fileId: string
  let signedPath: string
  let shareId: string
  let token: string
  let protectedToken: string
  /** For the routes that end a session, a password or the account itself. */
  let spare: TestUser
  let spareSessionId: string
  let uploadId: string

  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'open', METRICS_TOKEN })
    user = await signUp(t.app)
    spare = await signUp(t.app)
    await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: spare.email, password: spare.password },
    })
    const sessions = await t.app.inject({ url: '/sessions', headers: spare.auth })
    spareSessionId = sessions.json().items.find((s: { current: boolean }) => !s.current).id
    const file = await injectUpload(t.app, user, 'page.html', Buffer.from('<script>1</script>'))
    fileId = file.id
    const url = new URL((file as unknown as { url: string }).url)
    signedPath = `${url.pathname}${url.search}`
    const share = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: user.auth,
      payload: {},
    })
    shareId = share.json().id
    token = share.json().url.split('/s/')[1]
    const guarded = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: user.auth,
      payload: { password: SHARE_PASSWORD },
    })
    protectedToken = guarded.json().url.split('/s/')[1]
    const upload = await t.app.inject(createTusUpload(user.auth))
    uploadId = String(upload.headers.location).split('/uploads/')[1]!
  })
  afterAll(() => t.close())

  const routes = (): Record<string, RouteCase> => ({
    'GET /healthz': { kind: 'json', send: () => ({ url: '/healthz' }) },
    'GET /readyz': { kind: 'json', send: () => ({ url: '/readyz' }) },
    'GET /metrics': {
      kind: 'json',
      send: () => ({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } }),
    },
    'GET /openapi.json': { kind: 'json', send: () => ({ url: '/openapi.json' }) },
    'GET /docs': { kind: 'json', send: () => ({ url: '/docs/static/index.html' }) },
    'POST /register': {
      kind: 'json',
      send: () => ({
        method: 'POST',
        url: '/register',
        payload: { email: `h-${Date.now()}@example.test`, password: 'a long enough password' },
      }),
    },
    'POST /login': {
      kind: 'json',
      send: () => ({
        method: 'POST',
        url: '/login',
        payload: { email: user.email, password: user.password },
      }),
    },
    'POST /token/refresh': {
      kind: 'json',
      send: () => ({
        method: 'POST',
        url: '/token/refresh',
        payload: { refresh_token: user.refreshToken },
      }),
    },
    'POST /logout': {
      kind: 'empty',
      bearer: true,
      send: (auth) => ({ method: 'POST', url: '/logout', headers: auth }),
    },
    'GET /me': { kind: 'json', bearer: true, send: (auth) => ({ url: '/me', headers: auth }) },
    'POST /upload': {
      kind: 'json',
      bearer: true,
      send: (auth) => {
        const body = multipartBody([{ name: 'file', filename: 'b.txt', body: Buffer.from('b') }])
        return {
          method: 'POST',
          url: '/upload',
          headers: { ...auth, 'content-type': `multipart/form-data; boundary=${body.boundary}` },
          payload: body.stream,
        }
      },
    },
    'GET /files': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ url: '/files', headers: auth }),
    },
    'GET /search': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ url: '/search?q=page', headers: auth }),
    },
    'GET /files/{id}': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ url: `/files/${fileId}`, headers: auth }),
    },
    'PATCH /files/{id}': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({
        method: 'PATCH',
        url: `/files/${fileId}`,
        headers: auth,
        payload: { name: 'page.html' },
      }),
    },
    'DELETE /files/{id}': {
      kind: 'empty',
      bearer: true,
      send: (auth) => ({ method: 'DELETE', url: `/files/${fileId}`, headers: auth }),
    },
    'GET /files/{id}/content': {
      kind: 'content',
      bearer: true,
      send: (auth) => ({ url: `/files/${fileId}/content`, headers: auth }),
    },
    'GET /share/{file_id}': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ url: `/share/${fileId}`, headers: auth }),
    },
    'POST /files/{id}/shares': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({
        method: 'POST',
        url: `/files/${fileId}/shares`,
        headers: auth,
        payload: {},
      }),
    },
    'GET /files/{id}/shares': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ url: `/files/${fileId}/shares`, headers: auth }),
    },
    'PATCH /shares/{id}': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({
        method: 'PATCH',
        url: `/shares/${shareId}`,
        headers: auth,
        payload: { max_downloads: 100 },
      }),
    },
    'OPTIONS /uploads': {
      kind: 'empty',
      send: () => ({ method: 'OPTIONS', url: '/uploads' }),
    },
    'POST /uploads': { kind: 'empty', bearer: true, send: (auth) => createTusUpload(auth) },
    'HEAD /uploads/{id}': {
      kind: 'empty',
      bearer: true,
      send: (auth) => ({ method: 'HEAD', url: `/uploads/${uploadId}`, headers: tus(auth) }),
    },
    'PATCH /uploads/{id}': {
      kind: 'empty',
      bearer: true,
      send: (auth) => ({
        method: 'PATCH',
        url: `/uploads/${uploadId}`,
        headers: {
          ...tus(auth),
          'upload-offset': '0',
          'content-type': 'application/offset+octet-stream',
        },
        payload: Buffer.from('ab'),
      }),
    },
    'DELETE /uploads/{id}': {
      kind: 'empty',
      bearer: true,
      send: (auth) => ({ method: 'DELETE', url: `/uploads/${uploadId}`, headers: tus(auth) }),
    },
    'DELETE /shares/{id}': {
      kind: 'empty',
      bearer: true,
      send: (auth) => ({ method: 'DELETE', url: `/shares/${shareId}`, headers: auth }),
    },
    'GET /s/{token}': { kind: 'content', send: () => ({ url: `/s/${token}` }) },
    'POST /s/{token}': {
      kind: 'content',
      send: () => ({
        method: 'POST',
        url: `/s/${protectedToken}`,
        payload: { password: SHARE_PASSWORD },
      }),
    },
    'GET /s/{token}/info': { kind: 'json', send: () => ({ url: `/s/${token}/info` }) },
    'GET /sessions': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ url: '/sessions', headers: auth }),
    },
    'DELETE /sessions/{id}': {
      kind: 'empty',
      bearer: true,
      as: () => spare,
      send: (auth) => ({ method: 'DELETE', url: `/sessions/${spareSessionId}`, headers: auth }),
    },
    'POST /me/password': {
      kind: 'json',
      bearer: true,
      as: () => spare,
      send: (auth) => ({
        method: 'POST',
        url: '/me/password',
        headers: auth,
        payload: { current_password: spare.password, new_password: 'another long password' },
      }),
    },
    'DELETE /me': {
      kind: 'empty',
      bearer: true,
      as: () => spare,
      send: (auth) => ({
        method: 'DELETE',
        url: '/me',
        headers: auth,
        payload: { password: 'another long password' },
      }),
    },
    'POST /ws/ticket': {
      kind: 'json',
      bearer: true,
      send: (auth) => ({ method: 'POST', url: '/ws/ticket', headers: auth }),
    },
    // Without an upgrade the socket route answers a plain HTTP error, which is what we check.
    'GET /ws': { kind: 'json', send: () => ({ url: '/ws?ticket=x' }) },
  })

  it('has a case for every route the app serves', async () => {
    const doc = (await t.app.inject({ url: '/openapi.json' })).json()
    const served = Object.entries<Record<string, unknown>>(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    )
    expect(Object.keys(routes()).sort()).toEqual([...served, ...HIDDEN].sort())
  })

  it('says nosniff everywhere, no-store on all but content, and sandboxes content', async () => {
    const wrong: string[] = []
    // Routes that end something go last, so the others still find what they need: a file's
    // links go with it, the spare account changes its password before it is deleted, and
    // the main user logs out at the very end.
    const finale = ['DELETE /files/{id}', 'POST /me/password', 'DELETE /me', 'POST /logout']
    const rank = (key: string) =>
      finale.includes(key) ? 2 + finale.indexOf(key) : Number(key.startsWith('DELETE'))
    const ordered = Object.entries(routes()).sort(([a], [b]) => rank(a) - rank(b))
    const signed: RouteCase = { kind: 'content', send: () => ({ url: signedPath }) }
    for (const [key, route] of [['signed download', signed] as const, ...ordered]) {
      const res = await t.app.inject(route.send((route.as?.() ?? user).auth))
      if (res.statusCode >= 400 && key !== 'GET /ws')
        wrong.push(`${key}: ${res.statusCode} ${res.body}`)
      if (key === 'POST /me/password')
        spare.auth.authorization = `Bearer ${res.json().access_token}`
      const h = res.headers
      const problems = [
        h['x-content-type-options'] !== 'nosniff' && `nosniff: ${h['x-content-type-options']}`,
        route.kind === 'content'
          ? h['cache-control'] !== 'private, no-cache' && `cache-control: ${h['cache-control']}`
          : h['cache-control'] !== 'no-store' && `cache-control: ${h['cache-control']}`,
        route.kind === 'content' &&
          h['content-security-policy'] !== SANDBOX &&
          `csp: ${h['content-security-policy']}`,
      ].filter(Boolean)
      if (problems.length > 0) wrong.push(`${key} (${res.statusCode}): ${problems.join(', ')}`)
      if (key === 'POST /token/refresh') user.refreshToken = res.json().refresh_token
    }
    expect(wrong).toEqual([])
  })

  it('answers 401 with a Bearer challenge on every bearer route without a token', async () => {
    const wrong: string[] = []
    for (const [key, route] of Object.entries(routes())) {
      if (!route.bearer) continue
      const withoutToken: Record<string, string>[] = [{}, { authorization: 'Bearer not-a-token' }]
      for (const auth of withoutToken) {
        const res = await t.app.inject(route.send(auth))
        const h = res.headers
        if (
          res.statusCode !== 401 ||
          !String(h['www-authenticate']).startsWith('Bearer') ||
          h['cache-control'] !== 'no-store' ||
          h['x-content-type-options'] !== 'nosniff'
        ) {
          wrong.push(`${key}: ${res.statusCode} ${JSON.stringify(h)}`)
        }
      }
    }
    expect(wrong).toEqual([])
  })
})

describe('error responses of download routes', () => {
  let t: TestApp
  let user: TestUser
  let fileId: string
  let storageKey: string
  let signedPath: string
  let token: string

  beforeAll(async () => {
    t = await buildTestApp({ REGISTRATION: 'open' })
    user = await signUp(t.app)
    const file = await injectUpload(t.app, user, 'report.pdf', Buffer.from('0123456789'))
    fileId = file.id
    const url = new URL((file as unknown as { url: string }).url)
    signedPath = `${url.pathname}${url.search}`
    const share = await t.app.inject({
      method: 'POST',
      url: `/files/${fileId}/shares`,
      headers: user.auth,
      payload: { password: SHARE_PASSWORD },
    })
    token = share.json().url.split('/s/')[1]
    const row = await t.database.db
      .selectFrom('files')
      .select('storage_key')
      .where('id', '=', fileId)
      .executeTakeFirstOrThrow()
    storageKey = row.storage_key
  })
  afterAll(() => t.close())

  const clean = (res: LightMyRequestResponse, label: string) => {
    const h = res.headers
    return [
      ...REPRESENTATION.filter((name) => h[name] !== undefined).map((n) => `${n}: ${h[n]}`),
      res.statusCode !== 416 && h['content-range'] !== undefined && 'content-range',
      h['cache-control'] !== 'no-store' && `cache-control: ${h['cache-control']}`,
      h['x-content-type-options'] !== 'nosniff' && 'no nosniff',
      !String(h['content-type']).startsWith('application/problem+json') &&
        `content-type: ${h['content-type']}`,
      res.body.includes(storageKey) && 'the storage key in the body',
    ]
      .filter(Boolean)
      .map((problem) => `${label} (${res.statusCode}): ${problem}`)
  }

  it('carry no representation headers for a bad range, a bad password or a bad signature', async () => {
    const password = { 'x-share-password': SHARE_PASSWORD }
    const range = { range: 'bytes=100-200' }
    const cases: [string, InjectOptions][] = [
      ['owner range', { url: `/files/${fileId}/content`, headers: { ...user.auth, ...range } }],
      ['signed range', { url: signedPath, headers: range }],
      ['link range', { url: `/s/${token}`, headers: { ...password, ...range } }],
      ['link wrong password', { url: `/s/${token}`, headers: { 'x-share-password': 'nope' } }],
      // Another first character: one signature in 64 starts with the one put in.
      [
        'bad signature',
        {
          url: signedPath.replace(/signature=(.)/, (_, c) => `signature=${c === 'A' ? 'B' : 'A'}`),
        },
      ],
    ]
    const wrong: string[] = []
    for (const [label, request] of cases) {
      const res = await t.app.inject(request)
      expect(res.statusCode).toBeGreaterThanOrEqual(400)
      if (res.statusCode === 416) expect(res.headers['content-range']).toBe('bytes */10')
      wrong.push(...clean(res, label))
    }
    expect(wrong).toEqual([])
  })

  it('carry neither representation headers nor the storage key when the blob is missing', async () => {
    await t.store.delete(storageKey)
    const wrong: string[] = []
    const cases: [string, InjectOptions][] = [
      ['owner', { url: `/files/${fileId}/content`, headers: user.auth }],
      ['signed', { url: signedPath }],
      ['link', { url: `/s/${token}`, headers: { 'x-share-password': SHARE_PASSWORD } }],
    ]
    for (const [label, request] of cases) {
      const res = await t.app.inject(request)
      expect(res.statusCode).toBeGreaterThanOrEqual(400)
      wrong.push(...clean(res, label))
    }
    expect(wrong).toEqual([])
  })
})

function tus(auth: Record<string, string>): Record<string, string> {
  return { ...auth, 'tus-resumable': '1.0.0' }
}

/** A tus upload of 4 bytes, none sent yet. */
function createTusUpload(auth: Record<string, string>): InjectOptions {
  const filename = Buffer.from('t.txt').toString('base64')
  return {
    method: 'POST',
    url: '/uploads',
    headers: { ...tus(auth), 'upload-length': '4', 'upload-metadata': `filename ${filename}` },
  }
}
