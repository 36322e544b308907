import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../src/app.js'
import { parseConfig } from '../../src/config.js'
import { MemoryEventBus } from '../../src/events/memory-event-bus.js'
import { openDatabase } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import type { DB } from '../../src/schema.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { TEST_JWT_SECRET } from '../helpers/build-test-app.js'
import { createTestDatabase } from '../helpers/databases.js'
import { runMain, startServer } from '../helpers/server-process.js'

let dataDir: string
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'satchel-process-'))
})
afterAll(() => rm(dataDir, { recursive: true, force: true }))

async function postJson(url: string, body: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

describe('configuration', () => {
  it.each([
    ['PORT', { PORT: 'eighty' }],
    ['STORAGE_DRIVER', { STORAGE_DRIVER: 'floppy' }],
    ['MAX_UPLOAD_BYTES', { MAX_UPLOAD_BYTES: '-5' }],
    ['JWT_SECRET', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' }],
  ])('a bad %s exits non-zero with one line naming it', async (name, env) => {
    const { exited, output } = runMain({ DATA_DIR: dataDir, ...env })
    expect(await exited).not.toBe(0)
    const lines = output().trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain(name)
  })

  it('parses defaults', () => {
    const config = parseConfig({})
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      logLevel: 'info',
    })
    expect(config.publicBaseUrl).toBe('http://localhost:8080')
  })
})

describe('the embedded mode (PGlite, no database server)', () => {
  it('starts with no configuration, serves register and login, keeps its JWT secret, and stops on SIGTERM', async () => {
    const server = await startServer({ DATA_DIR: dataDir })
    try {
      expect(server.output()).toContain('"database":"pglite"')
      const reg = await postJson(`${server.url}/register`, {
        email: 'embedded@example.test',
        password: 'password1',
      })
      expect(reg.status).toBe(201)
      const login = await postJson(`${server.url}/login`, {
        email: 'embedded@example.test',
        password: 'password1',
      })
      expect(login.status).toBe(200)
      expect(login.body.token_type).toBe('Bearer')
    } finally {
      expect(await server.stop('SIGTERM')).toBe(0)
    }
    const secret = await readFile(join(dataDir, 'secrets', 'jwt_secret'), 'utf8')
    expect(secret.length).toBeGreaterThanOrEqual(32)

    // A restart reuses the database and the secret: the account still logs in.
    const again = await startServer({ DATA_DIR: dataDir })
    try {
      const login = await postJson(`${again.url}/login`, {
        email: 'embedded@example.test',
        password: 'password1',
      })
      expect(login.status).toBe(200)
    } finally {
      expect(await again.stop('SIGINT')).toBe(0)
    }
  }, 90_000)
})

describe('PostgreSQL mode', () => {
  it('uses DATABASE_URL, finishes an in-flight request on SIGTERM, then exits 0', async () => {
    const testDb = await createTestDatabase()
    const server = await startServer({
      DATA_DIR: dataDir,
      DATABASE_URL: testDb.url,
      JWT_SECRET: TEST_JWT_SECRET,
    })
    try {
      expect(server.output()).toContain('"database":"postgres"')
      // argon2 keeps this request in flight for tens of milliseconds while the signal lands.
      const pending = postJson(`${server.url}/register`, {
        email: 'pg@example.test',
        password: 'password1',
      })
      await new Promise((r) => setTimeout(r, 5))
      const exit = server.stop('SIGTERM')
      expect((await pending).status).toBe(201)
      expect(await exit).toBe(0)
    } finally {
      await server.stop('SIGKILL')
      await testDb.drop()
    }
  })
})

describe('GET /readyz', () => {
  it('is 503 with Retry-After when the database is unreachable', async () => {
    const logger = createLogger('silent')
    const config = parseConfig({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: dataDir,
    })
    const database = await openDatabase<DB>({ url: config.databaseUrl, dataDir, logger })
    const app = await buildApp(config, {
      database,
      store: new MemoryBlobStore(),
      logger,
      events: new MemoryEventBus({ logger }),
    })
    try {
      const ready = await app.inject({ url: '/readyz' })
      expect(ready.statusCode).toBe(503)
      expect(ready.headers['retry-after']).toBeDefined()
      expect(ready.json()).toMatchObject({ code: 'service_unavailable' })
      expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    } finally {
      await app.close()
      await database.close()
    }
  })
})
