import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { upload } from '../helpers/multipart.js'
import { connectEvents, refusedStatus } from '../helpers/sockets.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

describe('WebSocket notifications', () => {
  let a: TestApp
  let b: TestApp
  let baseA: string
  let baseB: string
  let alice: TestUser
  let bob: TestUser

  beforeAll(async () => {
    a = await buildTestApp({ REDIS_URL, ALLOWED_ORIGINS: 'https://app.example' })
    // A second instance on the same database and Redis, as behind a load balancer.
    b = await buildTestApp({
      REDIS_URL,
      DATABASE_URL: a.config.databaseUrl!,
      REDIS_PREFIX: a.config.redisPrefix,
      DATA_DIR: a.dataDir,
    })
    baseA = await a.app.listen({ port: 0, host: '127.0.0.1' })
    baseB = await b.app.listen({ port: 0, host: '127.0.0.1' })
    alice = await signUp(a.app)
    bob = await signUp(a.app)
  })
  afterAll(async () => {
    await b.close()
    await a.close()
  })

  it('tells the uploader upload.completed, and nobody else', async () => {
    const mine = await connectEvents(baseA, alice.accessToken)
    const theirs = await connectEvents(baseA, bob.accessToken)
    const res = await upload(baseA, alice.accessToken, [
      { name: 'file', filename: 'hello.txt', body: Buffer.from('hi') },
    ])
    const event = await mine.waitFor((e) => e.type === 'upload.completed')
    expect(event).toMatchObject({
      type: 'upload.completed',
      data: { id: res.json().id, name: 'hello.txt', size: 2 },
    })
    expect(event).toHaveProperty('id')
    expect(event).toHaveProperty('at')
    await new Promise((r) => setTimeout(r, 300))
    expect(theirs.events.map((e) => e.type)).toEqual(['connected'])
    mine.close()
    theirs.close()
  })

  it('delivers an event produced on instance A to a client connected to instance B', async () => {
    const onB = await connectEvents(baseB, alice.accessToken)
    const res = await upload(baseA, alice.accessToken, [
      { name: 'file', filename: 'cross.txt', body: Buffer.from('x') },
    ])
    const id = res.json().id
    await onB.waitFor((e) => e.type === 'upload.completed' && e.data?.id === id)
    await fetch(`${baseA}/files/${id}`, { method: 'DELETE', headers: alice.auth })
    await onB.waitFor((e) => e.type === 'file.deleted' && e.data?.id === id)
    onB.close()
  })

  it('reaches every connection a user has open', async () => {
    const one = await connectEvents(baseA, alice.accessToken)
    const two = await connectEvents(baseB, alice.accessToken)
    await upload(baseB, alice.accessToken, [
      { name: 'file', filename: 'both.txt', body: Buffer.from('y') },
    ])
    await Promise.all([one, two].map((c) => c.waitFor((e) => e.type === 'upload.completed')))
    one.close()
    two.close()
  })

  it('refuses a missing, forged or reused ticket and a foreign origin with a clear status', async () => {
    const ws = baseA.replace(/^http/, 'ws')
    expect(await refusedStatus(`${ws}/ws`)).toBe(401)
    expect(await refusedStatus(`${ws}/ws?ticket=forged.ticket`)).toBe(401)
    const { ticket } = (await (
      await fetch(`${baseA}/ws/ticket`, { method: 'POST', headers: alice.auth })
    ).json()) as {
      ticket: string
    }
    expect(
      await refusedStatus(`${ws}/ws?ticket=${ticket}`, { origin: 'https://evil.example' }),
    ).toBe(403)
    const fresh = (await (
      await fetch(`${baseA}/ws/ticket`, { method: 'POST', headers: alice.auth })
    ).json()) as {
      ticket: string
    }
    const first = await import('ws').then(
      ({ default: WebSocket }) =>
        new Promise<void>((resolve, reject) => {
          const s = new WebSocket(`${ws}/ws?ticket=${fresh.ticket}`, {
            headers: { origin: 'https://app.example' },
          })
          s.on('open', () => {
            s.close()
            resolve()
          })
          s.on('error', reject)
        }),
    )
    expect(first).toBeUndefined()
    // Spent on instance A, so refused on instance B too.
    expect(await refusedStatus(`${baseB.replace(/^http/, 'ws')}/ws?ticket=${fresh.ticket}`)).toBe(
      401,
    )
    expect((await fetch(`${baseA}/ws/ticket`, { method: 'POST' })).status).toBe(401)
  })
})
