import { connect } from 'node:net'
import type { InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'

/** A value that must never come back in a response: the request is not echoed. */
const MARK = 'echo-marker-7f3a'

interface Answer {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: string
}

/** Every framework error is problem+json with a request id and the security headers. */
function expectProblem(res: Answer, status: number, code?: string) {
  expect(res.status, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.headers['x-request-id']).toMatch(/^[\w.:-]{1,128}$/)
  expect(res.headers['x-content-type-options']).toBe('nosniff')
  expect(res.headers['cache-control']).toBe('no-store')
  const body = JSON.parse(res.body)
  expect(Object.keys(body)).toEqual(
    expect.arrayContaining(['type', 'title', 'status', 'detail', 'code']),
  )
  expect(body.status).toBe(status)
  if (code) expect(body.code).toBe(code)
  expect(res.body).not.toContain(MARK)
  return body
}

/** Writes raw bytes to the server and reads the answer until the server closes. */
function rawExchange(base: string, request: string): Promise<Answer> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    const chunks: Buffer[] = []
    socket.on('data', (c) => chunks.push(c))
    socket.on('error', reject)
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1')
      const [head = '', body = ''] = text.split('\r\n\r\n', 2)
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const at = line.indexOf(':')
        headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body })
    })
    socket.end(request)
  })
}

describe('one error model for framework errors', () => {
  let t: TestApp
  let base: string
  let user: TestUser
  const inject = async (options: InjectOptions): Promise<Answer> => {
    const res = await t.app.inject(options)
    return { status: res.statusCode, headers: res.headers, body: res.body }
  }

  beforeAll(async () => {
    t = await buildTestApp()
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    user = await signUp(t.app)
  })
  afterAll(() => t.close())

  it('a path parameter over the length limit is 414', async () => {
    const res = await inject({ url: `/files/${MARK}${'a'.repeat(300)}`, headers: user.auth })
    expectProblem(res, 414, 'uri_too_long')
  })

  it('a path that is not valid percent-encoding is 400', async () => {
    const res = await inject({ url: `/files/${MARK}%E0%A4%A`, headers: user.auth })
    expectProblem(res, 400, 'bad_url')
  })

  it('an unknown route is 404 without the path in the answer', async () => {
    const res = await inject({ url: `/nowhere/${MARK}?q=${MARK}` })
    expectProblem(res, 404, 'route_not_found')
  })

  it('a known path with another method is 405 and says which methods it has', async () => {
    const res = await inject({ method: 'PUT', url: '/login', headers: { 'x-test': MARK } })
    expectProblem(res, 405, 'method_not_allowed')
    expect(res.headers.allow).toBe('POST')
    const files = await inject({ method: 'DELETE', url: `/files?x=${MARK}`, headers: user.auth })
    expectProblem(files, 405, 'method_not_allowed')
    expect(String(files.headers.allow).split(', ').sort()).toEqual(['GET', 'HEAD'])
  })

  it('an unsupported content type is 415 without the type echoed', async () => {
    const res = await inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': `text/${MARK}` },
      payload: 'x',
    })
    expectProblem(res, 415, 'unsupported_media_type')
  })

  it('a JSON body that does not parse is 400 without the body echoed', async () => {
    const res = await inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/json' },
      payload: `{"email": ${MARK}`,
    })
    expectProblem(res, 400, 'invalid_body')
  })

  it('a JSON body over the body limit is 413', async () => {
    const res = await inject({
      method: 'POST',
      url: '/login',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ email: MARK, password: 'x'.repeat(2 * 1024 * 1024) }),
    })
    expectProblem(res, 413, 'payload_too_large')
  })

  it('headers over the size limit are 431 from the HTTP parser, still problem+json', async () => {
    const res = await rawExchange(
      base,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${MARK}${'a'.repeat(20_000)}\r\n\r\n`,
    )
    expectProblem(res, 431, 'headers_too_large')
  })

  it('a query over the size limit is 431 too', async () => {
    const res = await rawExchange(
      base,
      `GET /files?q=${MARK}${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    )
    expectProblem(res, 431, 'headers_too_large')
  })

  it('a request the HTTP parser cannot read is 400 problem+json', async () => {
    const res = await rawExchange(base, `GET /healthz HTTP/1.1\r\nHost: x\r\n${MARK}\r\n\r\n`)
    expectProblem(res, 400, 'bad_request')
  })

  it('keeps serving after all of them', async () => {
    const res = await inject({ url: '/healthz' })
    expect(res.status).toBe(200)
  })
})
