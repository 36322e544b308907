import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { startFlakyProxy } from '../helpers/flaky-proxy.js'
import { upload } from '../helpers/multipart.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'

describe.each(['error', 'reset', 'stall'] as const)('S3 failing with %s', (mode) => {
  let s3: S3TestServer
  let proxy: Awaited<ReturnType<typeof startFlakyProxy>>
  let t: TestApp
  let base: string
  let user: TestUser

  beforeAll(async () => {
    s3 = await startS3Server()
    proxy = await startFlakyProxy(s3.endpoint)
    t = await buildTestApp({
      ...s3.env,
      S3_ENDPOINT: proxy.url,
      // With the default of a minute per attempt, a stalled store takes many minutes to fail.
      S3_TIMEOUT_SECONDS: '1',
    })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    user = await signUp(t.app)
  })
  afterAll(async () => {
    await t.close()
    await proxy.close()
    await s3.close()
  })

  const objects = async () =>
    (await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))).KeyCount ?? 0

  it('answers an upload with a clean 503, leaves no visible row, and no orphan once the sweeper runs', async () => {
    const stored = await upload(base, user.accessToken, [
      { name: 'file', filename: 'ok.txt', body: Buffer.from('ok') },
    ])
    expect(stored.status).toBe(201)
    proxy.setMode(mode)
    const started = Date.now()
    const failed = await upload(base, user.accessToken, [
      { name: 'file', filename: 'big.bin', body: Buffer.alloc(6 * 1024 * 1024, 1) },
    ])
    expect(failed.status).toBe(503)
    expect(failed.headers['retry-after']).toBeDefined()
    expect(failed.json().code).toBe('storage_unavailable')
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(retried(proxy.failedRequests())).toBe(true)
    const list = await fetch(`${base}/files`, { headers: user.auth })
    expect(((await list.json()) as { items: { name: string }[] }).items.map((f) => f.name)).toEqual(
      ['ok.txt'],
    )
    expect((await fetch(`${base}/readyz`)).status).toBe(503)

    proxy.setMode('pass')
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
    await t.app.sweeper.sweep()
    const rows = await t.database.db.selectFrom('files').select(['name', 'status']).execute()
    expect(rows).toEqual([{ name: 'ok.txt', status: 'available' }])
    expect(await objects()).toBe(1)
    expect(await s3.pendingMultipartUploads()).toBe(0)
  }, 60_000)

  it('answers a download with 503 while the store fails, and recovers', async () => {
    const res = await upload(base, user.accessToken, [
      { name: 'file', filename: 'd.txt', body: Buffer.from('dl') },
    ])
    const { id } = res.json<{ id: string }>()
    proxy.setMode(mode)
    const failed = await fetch(`${base}/files/${id}/content`, { headers: user.auth })
    expect(failed.status).toBe(503)
    expect(retried(proxy.failedRequests())).toBe(true)
    proxy.setMode('pass')
    const ok = await fetch(`${base}/files/${id}/content`, { headers: user.auth })
    expect(await ok.text()).toBe('dl')
  }, 60_000)
})

/** Whether the client sent the first request that failed again, rather than giving up at once. */
function retried(failed: string[]): boolean {
  return failed.filter((request) => request === failed[0]).length > 1
}
