import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import type { DB } from '../../src/schema.js'
import { LocalBlobStore } from '../../src/storage/local-blob-store.js'
import { TEST_JWT_SECRET } from '../helpers/build-test-app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'
import { generatedBytes, type HttpResult, httpRequest, upload } from '../helpers/multipart.js'
import { startServer } from '../helpers/server-process.js'

const ROUNDS = 20

/** kill -9 at random moments during uploads and deletes; nothing may end up half done. */
describe('crash consistency', () => {
  let db: TestDatabase
  let dataDir: string
  let env: Record<string, string>
  const completed = new Map<string, string>() // file id → sha256 the server reported

  beforeAll(async () => {
    db = await createTestDatabase()
    dataDir = await mkdtemp(join(tmpdir(), 'satchel-crash-'))
    env = { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: dataDir }
  })
  afterAll(async () => {
    await db.drop()
    await rm(dataDir, { recursive: true, force: true })
  })

  it(`keeps every completed upload intact and no file without its bytes, over ${ROUNDS} kills`, async () => {
    const credentials = JSON.stringify({ email: 'crash@example.test', password: 'crash password' })
    const json = { 'content-type': 'application/json' }
    let token = ''
    let interrupted = 0 // uploads the kill cut off
    for (let round = 0; round < ROUNDS; round++) {
      const server = await startServer(env)
      if (!token)
        await httpRequest(`${server.url}/register`, {
          method: 'POST',
          headers: json,
          body: credentials,
        })
      token = (
        await httpRequest(`${server.url}/login`, {
          method: 'POST',
          headers: json,
          body: credentials,
        })
      ).json<{
        access_token: string
      }>().access_token
      const auth = { authorization: `Bearer ${token}` }
      const remember = (res: HttpResult) => {
        if (res.status !== 201) return false
        completed.set(res.json<{ id: string }>().id, res.json<{ sha256: string }>().sha256)
        return true
      }
      // Picked before this round's uploads, so each round adds a completed upload (the first
      // one below) for at most one it deletes.
      const victim = [...completed.keys()][Math.floor(Math.random() * completed.size)]
      // A fresh process spends a few hundred ms on its first upload, longer than the window
      // before the kill: without one answered first, few uploads would complete and the
      // deletes would use them up. With it, the kills land on a warm server, as in production.
      expect(
        remember(
          await upload(server.url, token, [
            { name: 'file', filename: `r${round}-first.bin`, body: generatedBytes(64 * 1024) },
          ]),
        ),
      ).toBe(true)

      const work: Promise<unknown>[] = []
      for (let i = 0; i < 4; i++) {
        const size = (1 + Math.floor(Math.random() * 8)) * 1024 * 1024
        work.push(
          upload(server.url, token, [
            { name: 'file', filename: `r${round}-${i}.bin`, body: generatedBytes(size) },
          ])
            .then(remember, () => false)
            .then((stored) => {
              if (!stored) interrupted++
            }),
        )
      }
      if (victim) {
        work.push(
          // A delete cut off before its answer may or may not have happened: stop expecting it.
          httpRequest(`${server.url}/files/${victim}`, { method: 'DELETE', headers: auth }).finally(
            () => completed.delete(victim),
          ),
        )
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 500))
      server.child.kill('SIGKILL')
      await Promise.allSettled(work)
      await server.stop()
    }

    // Restart once more; its start-up sweep finishes any interrupted delete.
    const server = await startServer(env)
    try {
      const logger = createLogger('silent')
      const database = await openDatabase<DB>({ url: db.url, dataDir, logger })
      const rows = await database.db
        .selectFrom('files')
        .select(['id', 'status', 'storage_key', 'sha256'])
        .execute()
      await database.close()
      const store = new LocalBlobStore({ root: join(dataDir, 'blobs') })
      const blobs = new Set<string>()
      for await (const blob of store.list()) blobs.add(blob.key)

      // No blob without a row (pending rows own their partial blobs until the grace period).
      const keys = new Set(rows.map((r) => r.storage_key))
      expect([...blobs].filter((key) => !keys.has(key))).toEqual([])
      // Every visible file has its bytes, and they hash to what the server reported.
      const visible = rows.filter((r) => r.status === 'available')
      for (const row of visible) {
        expect(blobs.has(row.storage_key)).toBe(true)
        const res = await httpRequest(`${server.url}/files/${row.id}/content`, {
          headers: { authorization: `Bearer ${token}` },
        })
        expect(createHash('sha256').update(res.body).digest('hex')).toBe(row.sha256)
      }
      // Every upload that was answered 201 (and not deleted since) is still there.
      const visibleIds = new Set(visible.map((r) => r.id))
      expect([...completed.keys()].filter((id) => !visibleIds.has(id))).toEqual([])
      // Otherwise every kill came after the work was done, and nothing here was tested.
      expect(interrupted).toBeGreaterThan(0)
    } finally {
      await server.stop()
    }
  }, 180_000)
})
