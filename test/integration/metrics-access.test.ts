import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'

// buildTestApp sets DATABASE_URL: the app runs in production mode. metrics.test.ts shows the
// scrape that METRICS_TOKEN allows.
describe('GET /metrics in production mode without METRICS_TOKEN', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp()
  })
  afterAll(() => t.close())

  it('is refused to everyone, whatever token they send', async () => {
    for (const headers of [{}, { authorization: 'Bearer anything-at-all-0123' }]) {
      const res = await t.app.inject({ url: '/metrics', headers })
      expect(res.statusCode).toBe(401)
      expect(res.headers['www-authenticate']).toBe('Bearer')
      expect(res.json()).toMatchObject({ code: 'not_authenticated' })
      expect(res.json().detail).toContain('METRICS_TOKEN')
      expect(res.body).not.toContain('satchel_http_requests_total')
    }
  })
})
