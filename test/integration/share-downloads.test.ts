import { randomBytes, randomUUID } from 'node:crypto'
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { sql } from 'kysely'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { migrate } from '../../src/infra/migrator.js'
import type { BlobStore, ByteRange } from '../../src/storage/blob-store.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { createTestDatabase } from '../helpers/databases.js'
import { injectUpload } from '../helpers/files.js'
import { connectEvents } from '../helpers/sockets.js'
import { withFaults } from '../helpers/stores.js'

type Get = BlobStore['get']
/** Replaces the store's next `get` (once), to fail it or hold its stream mid-way. */
type GetFault = (key: string, range: ByteRange | undefined, get: Get) => Promise<Readable>

function interceptNextGet(store: BlobStore, next: () => GetFault | undefined): BlobStore {
  return {
    ...withFaults(store, {}),
    get: (key, range, envelope) => {
      const get: Get = (k, r) => store.get(k, r, envelope)
      const fault = next()
      return fault ? fault(key, range, get) : get(key, range)
    },
  }
}

/** Sends the first `bytes` of the real stream, then stalls until the response is torn down. */
function stallAfter(bytes: number, released: () => void): GetFault {
  return async (key, range, get) => {
    const head = (await streamToBuffer(await get(key, range))).subarray(0, bytes)
    let pushed = false
    return new Readable({
      read() {
        if (pushed) return
        pushed = true
        this.push(head)
      },
      destroy(err, done) {
        released()
        done(err)
      },
    })
  }
}

async function streamToBuffer(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/**
 * Retries `attempt` until `done` holds or `ms` pass; returns the last result either way. For
 * what a response's settlement changes: it lands just after the client has seen the end.
 */
async function until<T>(attempt: () => Promise<T>, done: (value: T) => boolean, ms = 10_000) {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await attempt()
    if (done(value) || Date.now() > deadline) return value
    await new Promise((r) => setTimeout(r, 20))
  }
}

// An empty DATABASE_URL leaves the config without one: the app opens PGlite.
describe.each([
  ['PostgreSQL', {}],
  ['PGlite', { DATABASE_URL: '' }],
])('share link download budget on %s', (_name, env: Record<string, string>) => {
  let t: TestApp
  let base: string
  let alice: TestUser
  let fault: GetFault | undefined

  beforeAll(async () => {
    t = await buildTestApp(env, {
      store: (store) =>
        interceptNextGet(store, () => {
          const once = fault
          fault = undefined
          return once
        }),
    })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    alice = await signUp(t.app)
  })
  afterEach(() => {
    fault = undefined
  })
  afterAll(() => t.close())

  const newShare = async (content: Buffer, body: Record<string, unknown>) => {
    const file = await injectUpload(t.app, alice, 'budget.bin', content)
    const res = await t.app.inject({
      method: 'POST',
      url: `/files/${file.id}/shares`,
      headers: alice.auth,
      payload: body,
    })
    expect(res.statusCode, res.body).toBe(201)
    const share = res.json<{ id: string; url: string }>()
    return { file, share, path: new URL(share.url).pathname }
  }
  const download = (path: string, headers: Record<string, string> = {}) =>
    t.app.inject({ url: path, headers })
  const downloadsOf = async (fileId: string, shareId: string) => {
    const res = await t.app.inject({ url: `/files/${fileId}/shares`, headers: alice.auth })
    return res
      .json<{ items: { id: string; downloads: number }[] }>()
      .items.find((s) => s.id === shareId)?.downloads
  }

  it('serves at most one copy to 20 parallel "Range: bytes=1-" requests on a max_downloads=1 link', async () => {
    const content = randomBytes(1000)
    const { path } = await newShare(content, { max_downloads: 1 })
    const results = await Promise.all(
      Array.from({ length: 20 }, () => download(path, { range: 'bytes=1-' })),
    )
    const codes = results.map((r) => r.statusCode)
    expect(codes.filter((c) => c === 206)).toHaveLength(1)
    expect(codes.filter((c) => c === 410)).toHaveLength(19)
    // One byte of the copy is left: the first, and nothing more.
    const first = await download(path, { range: 'bytes=0-0' })
    expect(first.statusCode).toBe(206)
    const full = await download(path)
    expect(full.statusCode).toBe(410)
    expect(full.json().code).toBe('share_download_limit_reached')
    const served = [...results, first, full]
      .filter((r) => r.statusCode < 300)
      .reduce((sum, r) => sum + r.rawPayload.length, 0)
    expect(served).toBe(content.length)
  })

  it('keeps the whole budget when the store fails before any byte is sent', async () => {
    const content = randomBytes(4096)
    const { path } = await newShare(content, { max_downloads: 1 })

    fault = () => Promise.reject(new Error('store unavailable'))
    expect((await download(path)).statusCode).toBe(500)

    // The store answers, but its stream breaks before the first byte.
    fault = async () =>
      new Readable({
        read() {
          this.destroy(new Error('connection reset by the store'))
        },
      })
    expect((await download(path)).statusCode).toBe(500)

    const ok = await until(
      () => download(path),
      (r) => r.statusCode !== 410,
    )
    expect(ok.statusCode).toBe(200)
    expect(ok.rawPayload.equals(content)).toBe(true)
    expect((await download(path)).statusCode).toBe(410)
  })

  it('resumes a download cut halfway for the missing bytes only, then refuses another copy', async () => {
    const content = randomBytes(256 * 1024)
    const half = content.length / 2
    const { file, share, path } = await newShare(content, { max_downloads: 1 })

    let released!: () => void
    const torn = new Promise<void>((r) => {
      released = r
    })
    fault = stallAfter(half, released)
    const received = await new Promise<Buffer>((resolve, reject) => {
      const req = request(`${base}${path}`, (res) => {
        expect(res.statusCode).toBe(200)
        const chunks: Buffer[] = []
        let length = 0
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk)
          length += chunk.length
          if (length < half) return
          req.destroy()
          resolve(Buffer.concat(chunks))
        })
      })
      req.on('error', (err) => {
        if (!req.destroyed) reject(err)
      })
      req.end()
    })
    expect(received.length).toBe(half)
    await torn

    // Until the server has settled the cut response, its reservation still holds the bytes.
    const rest = await until(
      () => download(path, { range: `bytes=${received.length}-` }),
      (r) => r.statusCode !== 410,
    )
    expect(rest.statusCode).toBe(206)
    expect(Buffer.concat([received, rest.rawPayload]).equals(content)).toBe(true)

    const again = await download(path)
    expect(again.statusCode).toBe(410)
    expect(
      await until(
        () => downloadsOf(file.id, share.id),
        (n) => n === 1,
      ),
    ).toBe(1)
  })

  it('keeps the whole budget when the client leaves before the store has opened', async () => {
    const content = randomBytes(4096)
    const { path } = await newShare(content, { max_downloads: 1 })

    const serverClosed = new Promise<void>((resolve) =>
      t.app.server.once('connection', (socket) => socket.once('close', () => resolve())),
    )
    const req = request(`${base}${path}`, { agent: false })
    req.on('error', () => undefined)
    fault = async (key, range, get) => {
      req.destroy()
      await serverClosed
      return get(key, range)
    }
    req.end()
    await serverClosed

    const ok = await until(
      () => download(path),
      (r) => r.statusCode !== 410,
    )
    expect(ok.statusCode).toBe(200)
    expect(ok.rawPayload.equals(content)).toBe(true)
  })

  it('gives the whole file to exactly 5 of 50 parallel downloads of a max_downloads=5 link', async () => {
    const content = randomBytes(64 * 1024)
    const { path } = await newShare(content, { max_downloads: 5 })
    const results = await Promise.all(Array.from({ length: 50 }, () => download(path)))
    const ok = results.filter((r) => r.statusCode === 200)
    expect(ok).toHaveLength(5)
    for (const r of ok) expect(r.rawPayload.equals(content)).toBe(true)
    expect(results.filter((r) => r.statusCode === 410)).toHaveLength(45)
  })

  it('charges a 0-byte file one unit per response, and HEAD or 304 nothing', async () => {
    const empty = await newShare(Buffer.alloc(0), { max_downloads: 2 })
    for (let i = 0; i < 3; i++) {
      expect((await t.app.inject({ method: 'HEAD', url: empty.path })).statusCode).toBe(200)
      const etag = `"${empty.file.sha256}"`
      expect((await download(empty.path, { 'if-none-match': etag })).statusCode).toBe(304)
    }
    expect((await download(empty.path)).statusCode).toBe(200)
    expect((await download(empty.path)).statusCode).toBe(200)
    expect((await download(empty.path)).statusCode).toBe(410)
  })

  it('counts whole copies served, however the ranges split them, with one event per copy', async () => {
    const content = randomBytes(1000)
    const { file, share, path } = await newShare(content, {})
    const events = await connectEvents(base, alice.accessToken)
    try {
      expect((await download(path, { range: 'bytes=1-' })).statusCode).toBe(206)
      expect((await download(path, { range: 'bytes=0-0' })).statusCode).toBe(206)
      expect(
        await until(
          () => downloadsOf(file.id, share.id),
          (n) => n === 1,
        ),
      ).toBe(1)
      await events.waitFor((e) => e.type === 'share.downloaded')
      expect((await download(path, { range: 'bytes=0-499' })).statusCode).toBe(206)
      expect(await downloadsOf(file.id, share.id)).toBe(1)
      expect((await download(path)).statusCode).toBe(200)
      expect(
        await until(
          () => downloadsOf(file.id, share.id),
          (n) => n === 2,
        ),
      ).toBe(2)
      const downloaded = await until(
        async () => events.events.filter((e) => e.type === 'share.downloaded'),
        (list) => list.length >= 2,
      )
      expect(downloaded).toHaveLength(2)
      expect(downloaded[0]?.data).toEqual({ share_id: share.id, file_id: file.id })
    } finally {
      events.close()
    }
  })
})

describe('migration 0008', () => {
  it('carries the downloads counted before it into the budget, as whole copies', async () => {
    const source = new URL('../../migrations/', import.meta.url)
    const dir = await mkdtemp(join(tmpdir(), 'satchel-migrations-'))
    const testDb = await createTestDatabase()
    const logger = createLogger('silent')
    const database = await openDatabase({ url: testDb.url, dataDir: dir, logger })
    try {
      const copy = async (before: (n: number) => boolean) => {
        for (const name of await readdir(source))
          if (before(Number(name.slice(0, 4))))
            await copyFile(new URL(name, source), join(dir, name))
      }
      const dirUrl = pathToFileURL(`${dir}/`)
      await copy((n) => n < 8)
      await migrate(database.db, logger, dirUrl)

      const user = randomUUID()
      await sql`insert into users (id, email, password_hash) values (${user}, 'm@example.test', 'x')`.execute(
        database.db,
      )
      const shares = [
        { size: 1000, downloads: 2 },
        { size: 0, downloads: 1 },
        { size: 50, downloads: 0 },
      ].map((s) => ({ ...s, file: randomUUID(), share: randomUUID() }))
      for (const s of shares) {
        await sql`insert into files (id, owner_id, name, size, storage_key, driver, status)
          values (${s.file}, ${user}, 'f', ${s.size}, ${s.file}, 'local', 'available')`.execute(
          database.db,
        )
        await sql`insert into shares (id, file_id, owner_id, token_hash, max_downloads, downloads)
          values (${s.share}, ${s.file}, ${user}, ${s.share}, 3, ${s.downloads})`.execute(
          database.db,
        )
      }

      await copy((n) => n === 8)
      expect(await migrate(database.db, logger, dirUrl)).toEqual(['0008_share_download_budget.sql'])
      const rows = await sql<{ id: string; bytes_reserved: number; bytes_served: number }>`
        select id, bytes_reserved, bytes_served from shares`.execute(database.db)
      const byId = new Map(rows.rows.map((r) => [r.id, [r.bytes_reserved, r.bytes_served]]))
      expect(shares.map((s) => byId.get(s.share))).toEqual([
        [2000, 2000],
        [1, 1],
        [0, 0],
      ])
    } finally {
      await database.close()
      await testDb.drop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
