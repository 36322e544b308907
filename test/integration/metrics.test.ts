import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

const METRICS_TOKEN = 'metrics-token-0123456789'

describe('GET /metrics', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ METRICS_TOKEN, RATE_LIMIT_PER_MINUTE: '3' })
  })
  afterAll(() => t.close())

  const scrape = async () => {
    const res = await t.app.inject({
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toContain('text/plain')
    return res.body
  }

  it('needs the token when one is configured', async () => {
    expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(401)
    expect(
      (await t.app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong' } }))
        .statusCode,
    ).toBe(401)
  })

  it('counts requests by route and status, uploads, cache reads, refusals and the sweeper', async () => {
    const user = await signUp(t.app)
    const file = await injectUpload(t.app, user, 'm.txt', Buffer.from('12345'))
    await t.app.inject({ url: `/files/${file.id}`, headers: user.auth })
    for (let i = 0; i < 3; i++) await t.app.inject({ url: '/files', headers: user.auth })
    await t.app.sweeper.sweep()
    const body = await scrape()
    expect(body).toMatch(
      /satchel_http_requests_total\{method="GET",route="\/files\/:id",status="200"\} 1/,
    )
    expect(body).toMatch(/satchel_http_request_duration_seconds_bucket\{[^}]*route="\/files"/)
    expect(body).toMatch(/satchel_upload_bytes_total 5/)
    expect(body).toMatch(/satchel_cache_reads_total\{cache="file",result="miss"\} 1/)
    expect(body).toMatch(/satchel_rate_limited_total [1-9]/)
    expect(body).toMatch(/satchel_sweeper_items_total\{kind="expiredFiles"\} 0/)
    expect(body).toMatch(/satchel_websocket_connections 0/)
    expect(body).toMatch(/nodejs_eventloop_lag_seconds/)
  })
})

describe('GET /readyz', () => {
  it('is 503 while a configured Redis is unreachable', async () => {
    const t = await buildTestApp({ REDIS_URL: 'redis://127.0.0.1:1' })
    try {
      const res = await t.app.inject({ url: '/readyz' })
      expect(res.statusCode).toBe(503)
      expect(res.json().detail).toContain('redis')
    } finally {
      await t.close()
    }
  })
})
