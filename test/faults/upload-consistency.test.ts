import { createHash, randomUUID } from 'node:crypto'
import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'
import { injectUpload } from '../helpers/files.js'
import { lossyDatabase } from '../helpers/lossy-database.js'
import { gate, withFaults } from '../helpers/stores.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(condition: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(20)
  }
}

/**
 * A multipart upload over real HTTP whose body the test writes piece by piece, so it can
 * look at the server between two parts, then finish or abandon the request.
 */
function manualUpload(base: string, token: string) {
  const boundary = '----satchelmanual'
  const req = request(`${base}/upload`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    },
  })
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let body = ''
      res.on('data', (c) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
  })
  response.catch(() => undefined)
  return {
    response,
    startFile(name: string) {
      req.write(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      )
    },
    write(bytes: Buffer) {
      req.write(bytes)
    },
    endFile() {
      req.write('\r\n')
    },
    finish() {
      req.end(`--${boundary}--\r\n`)
    },
    abandon() {
      req.destroy()
    },
  }
}

describe('an upload', () => {
  let t: TestApp
  let base: string
  let user: TestUser
  beforeAll(async () => {
    t = await buildTestApp({ UPLOAD_GRACE_SECONDS: '2' })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    user = await signUp(t.app)
  })
  afterAll(() => t.close())

  const rows = () =>
    t.database.db
      .selectFrom('files')
      .select(['id', 'name', 'status'])
      .where('owner_id', '=', user.id)
      .execute()
  const listed = async () =>
    (await t.app.inject({ url: '/files', headers: user.auth })).json<{ items: unknown[] }>().items

  it('of several files shows none of them until the last one is stored', async () => {
    const first = Buffer.from('first file')
    const up = manualUpload(base, user.accessToken)
    up.startFile('first.txt')
    up.write(first)
    up.endFile()
    up.startFile('second.txt')
    up.write(Buffer.from('second, '))
    // The second part's row exists once the first part's bytes are stored.
    await until(async () => (await rows()).length === 2)
    expect((await rows()).map((r) => r.status)).toEqual(['pending', 'pending'])
    expect(await listed()).toEqual([])

    up.write(Buffer.from('done'))
    up.endFile()
    up.finish()
    const res = await up.response
    expect(res.status).toBe(201)
    const { items } = JSON.parse(res.body) as { items: { name: string; sha256: string }[] }
    expect(items.map((f) => f.name)).toEqual(['first.txt', 'second.txt'])
    expect(items[0]!.sha256).toBe(sha256(first))
    expect(await listed()).toHaveLength(2)
    for (const id of (await rows()).map((r) => r.id)) {
      await t.app.inject({ method: 'DELETE', url: `/files/${id}`, headers: user.auth })
    }
  })

  it('of several files, cut off before the last one ends, leaves nothing of any', async () => {
    const up = manualUpload(base, user.accessToken)
    up.startFile('kept-back.txt')
    up.write(Buffer.from('stored, but never committed'))
    up.endFile()
    up.startFile('cut.txt')
    up.write(Buffer.from('half'))
    await until(async () => (await rows()).length === 2)
    up.abandon()
    await until(async () => (await rows()).length === 0)
    expect(await listed()).toEqual([])
  })

  it('still streaming after its lease would have lapsed is not reaped by the sweeper', async () => {
    const up = manualUpload(base, user.accessToken)
    up.startFile('slow.bin')
    const chunks: Buffer[] = []
    const started = Date.now()
    // Twice the 2 s lease, with sweeps running all along.
    while (Date.now() - started < 4000) {
      const chunk = Buffer.alloc(1024, chunks.length)
      chunks.push(chunk)
      up.write(chunk)
      await t.app.sweeper.sweep()
      await sleep(250)
    }
    up.endFile()
    up.finish()
    const res = await up.response
    expect(res.status).toBe(201)
    const file = JSON.parse(res.body) as { id: string; sha256: string }
    expect(file.sha256).toBe(sha256(Buffer.concat(chunks)))
    const download = await t.app.inject({ url: `/files/${file.id}/content`, headers: user.auth })
    expect(download.statusCode).toBe(200)
    await t.app.inject({ method: 'DELETE', url: `/files/${file.id}`, headers: user.auth })
  })

  it('whose process died is reaped once its lease lapses', async () => {
    const id = randomUUID()
    const past = new Date(Date.now() - 1000)
    await t.database.db
      .insertInto('files')
      .values({
        id,
        owner_id: user.id,
        name: 'orphaned.bin',
        storage_key: `blobs/${id.slice(0, 2)}/${id}`,
        driver: 'local',
        status: 'pending',
        lease_until: past,
      })
      .execute()
    expect((await t.app.sweeper.sweep()).abandonedUploads).toBe(1)
    expect(await rows()).toEqual([])
  })
})

describe('a lost reply to the commit that makes an upload visible', () => {
  let db: TestDatabase
  let lossy: ReturnType<typeof lossyDatabase>
  let t: TestApp
  let user: TestUser
  beforeAll(async () => {
    db = await createTestDatabase()
    lossy = lossyDatabase(db.url)
    t = await buildTestApp({ DATABASE_URL: db.url }, { database: () => lossy.database })
    user = await signUp(t.app)
  })
  afterAll(async () => {
    await t.close()
    await lossy.database.close()
    await db.drop()
  })

  it('never removes the bytes the committed row refers to', async () => {
    const body = Buffer.from('committed, though nobody heard')
    lossy.loseReplyTo(
      (statement, parameters) =>
        statement.startsWith('update "files" set "status"') && parameters[0] === 'available',
    )
    let status = 201
    let id: string | undefined
    try {
      id = (await injectUpload(t.app, user, 'lost-reply.txt', body)).id
    } catch (err) {
      status = Number(/upload failed: (\d+)/.exec(String(err))?.[1])
    }
    const [row] = await t.database.db.selectFrom('files').selectAll().execute()
    expect(row?.status).toBe('available')
    expect(await t.store.head(row!.storage_key)).toBeDefined()
    await t.app.sweeper.sweep()
    const download = await t.app.inject({ url: `/files/${row!.id}/content`, headers: user.auth })
    expect(download.statusCode).toBe(200)
    expect(download.rawPayload.equals(body)).toBe(true)
    // The rows showed the commit happened, so the client was told it succeeded.
    expect(status).toBe(201)
    expect(id).toBe(row!.id)
  })
})

describe.each([
  ['PostgreSQL', {}],
  ['embedded PGlite', { DATABASE_URL: '' }],
])('deletes on a hung store, with %s', (_, env: Record<string, string>) => {
  let t: TestApp
  const heldDeletes = gate()
  let user: TestUser
  beforeAll(async () => {
    t = await buildTestApp(env, {
      store: (store) => withFaults(store, { delete: heldDeletes.fault }),
    })
    user = await signUp(t.app)
  })
  afterAll(async () => {
    heldDeletes.release()
    await t.close()
  })

  it('hold no database connection while they wait, and finish once the store answers', async () => {
    const files = await Promise.all(
      Array.from({ length: 12 }, (_, i) => injectUpload(t.app, user, `f${i}`, Buffer.from([i]))),
    )
    const deletes = files.map((f) =>
      t.app.inject({ method: 'DELETE', url: `/files/${f.id}`, headers: user.auth }),
    )
    await sleep(300)
    const started = Date.now()
    const me = await t.app.inject({ url: '/me', headers: user.auth })
    expect(me.statusCode).toBe(200)
    expect(Date.now() - started).toBeLessThan(1000)
    // Each DELETE answers after a bounded wait, the file already gone for its owner.
    for (const res of await Promise.all(deletes)) expect(res.statusCode).toBe(204)
    expect(await listed(t, user)).toEqual([])

    heldDeletes.release()
    await t.app.sweeper.sweep()
    const left = await t.database.db.selectFrom('files').select('storage_key').execute()
    expect(left).toEqual([])
    for (const file of files) {
      expect(
        (await t.app.inject({ url: `/files/${file.id}`, headers: user.auth })).statusCode,
      ).toBe(404)
    }
  }, 30_000)
})

async function listed(t: TestApp, user: TestUser) {
  return (await t.app.inject({ url: '/files', headers: user.auth })).json<{ items: unknown[] }>()
    .items
}
