import { randomBytes } from 'node:crypto'
import { ListObjectsV2Command } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_JWT_SECRET } from '../helpers/build-test-app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'
import { httpRequest, upload } from '../helpers/multipart.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { type ServerProcess, startServer } from '../helpers/server-process.js'
import { connectEvents } from '../helpers/sockets.js'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Three real server processes sharing PostgreSQL, Redis and one S3 store: N behave as one. */
describe('a cluster of three instances', () => {
  let db: TestDatabase
  let s3: S3TestServer
  let nodes: ServerProcess[]
  let token: string
  let auth: { authorization: string }

  beforeAll(async () => {
    db = await createTestDatabase()
    s3 = await startS3Server()
    const env = {
      ...s3.env,
      DATABASE_URL: db.url,
      REDIS_URL,
      REDIS_PREFIX: `cluster-${randomBytes(4).toString('hex')}:`,
      JWT_SECRET: TEST_JWT_SECRET,
      RATE_LIMIT_PER_MINUTE: '100',
      AUTH_RATE_LIMIT_PER_MINUTE: '1000',
      SWEEP_INTERVAL_SECONDS: '1',
      SWEEP_BATCH_SIZE: '5',
      DATA_DIR: '/tmp',
    }
    // Started together: all three migrate the same empty database, under the advisory lock.
    nodes = await Promise.all([startServer(env), startServer(env), startServer(env)])
    const [a] = nodes
    const json = (body: unknown) => ({
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const credentials = { email: 'cluster@example.test', password: 'cluster password' }
    await httpRequest(`${a!.url}/register`, { method: 'POST', ...json(credentials) })
    const login = await httpRequest(`${nodes[1]!.url}/login`, {
      method: 'POST',
      ...json(credentials),
    })
    token = login.json<{ access_token: string }>().access_token
    auth = { authorization: `Bearer ${token}` }
  }, 90_000)

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')))
    await s3.close()
    await db.drop()
  })

  const node = (i: number) => nodes[i % 3]!.url

  it('sees a rename through A at once through B and C', async () => {
    const res = await upload(node(0), token, [
      { name: 'file', filename: 'before.txt', body: Buffer.from('x') },
    ])
    const { id } = res.json<{ id: string }>()
    for (const i of [1, 2]) {
      expect((await httpRequest(`${node(i)}/files/${id}`, { headers: auth })).json().name).toBe(
        'before.txt',
      )
    }
    await httpRequest(`${node(0)}/files/${id}`, {
      method: 'PATCH',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'after.txt' }),
    })
    for (const i of [1, 2]) {
      expect((await httpRequest(`${node(i)}/files/${id}`, { headers: auth })).json().name).toBe(
        'after.txt',
      )
    }
  })

  it('delivers the upload.completed of an upload through A to a WebSocket on B', async () => {
    const client = await connectEvents(node(1), token)
    const res = await upload(node(0), token, [
      { name: 'file', filename: 'ws.txt', body: Buffer.from('w') },
    ])
    const { id } = res.json<{ id: string }>()
    await client.waitFor((e) => e.type === 'upload.completed' && e.data?.id === id)
    client.close()
  })

  it('has three sweepers delete each expired file exactly once', async () => {
    const ids: string[] = []
    for (let i = 0; i < 12; i++) {
      const res = await upload(
        node(i),
        token,
        [{ name: 'file', filename: `e${i}`, body: Buffer.from([i]) }],
        '?expires_in=1',
      )
      ids.push(res.json<{ id: string }>().id)
    }
    const sweptCount = () =>
      nodes
        .flatMap((n) => n.output().split('\n'))
        .filter((line) => line.includes('"sweep finished"'))
        .reduce((sum, line) => sum + JSON.parse(line).sweep.purgedFiles, 0)
    const before = sweptCount()
    const deadline = Date.now() + 20_000
    while (sweptCount() - before < ids.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200))
    await new Promise((r) => setTimeout(r, 1500))
    // Each instance logs its own counts; together they purged every file exactly once.
    expect(sweptCount() - before).toBe(ids.length)
    // Only the two files of the earlier tests keep their blobs.
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket }))
    expect(listed.KeyCount).toBe(2)
    for (const id of ids)
      expect((await httpRequest(`${node(0)}/files/${id}`, { headers: auth })).status).toBe(404)
  }, 40_000)

  it('shares one rate-limit budget: the 101st request in a minute is refused, whichever instance gets it', async () => {
    // This user has spent some of the budget above; use a fresh one.
    const credentials = { email: 'budget@example.test', password: 'budget password' }
    const json = { 'content-type': 'application/json' }
    await httpRequest(`${node(0)}/register`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(credentials),
    })
    const login = await httpRequest(`${node(1)}/login`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(credentials),
    })
    const headers = {
      authorization: `Bearer ${login.json<{ access_token: string }>().access_token}`,
    }
    const codes: number[] = []
    for (let i = 0; i < 101; i++)
      codes.push((await httpRequest(`${node(i)}/files?limit=1`, { headers })).status)
    expect(codes.slice(0, 100).every((c) => c === 200)).toBe(true)
    expect(codes[100]).toBe(429)
  }, 60_000)
})
