import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyRingValue } from '../../src/storage/key-ring.js'
import { TEST_JWT_SECRET } from '../helpers/build-test-app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'
import { generatedBytes, httpRequest, upload } from '../helpers/multipart.js'
import { type ServerProcess, startServer } from '../helpers/server-process.js'
import { OCTETS, TUS, tusMetadata } from '../helpers/tus.js'

const METRICS_TOKEN = 'upload-gc-test-token'
const MiB = 1024 * 1024
// Without the minor GCs, V8 started a full mark for every 64 MiB of body read: 8–10 here.
const UPLOAD_BYTES = 512 * MiB
const MAX_FULL_GCS = 2

// The buffers a body is read into, and those a cipher seals it into, are freed by minor GCs
// as it streams; left to V8, they piled up outside the heap until each 64 MiB set off a full
// GC of the whole heap (~1 s of CPU per GiB uploaded, src/infra/fresh-buffers.ts).
describe.each([
  ['plain', {}],
  ['encrypted at rest', { ENCRYPTION_KEY: generateKeyRingValue() }],
])('a large upload, %s', (_, env: Record<string, string>) => {
  let dataDir: string
  let database: TestDatabase
  let server: ServerProcess
  let token: string

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'satchel-upload-gc-'))
    database = await createTestDatabase()
    // startServer runs main.ts with the node flags of package.json's start script.
    server = await startServer({
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_JWT_SECRET,
      METRICS_TOKEN,
      RATE_LIMIT_PER_MINUTE: '100000000',
      ...env,
    })
    const credentials = JSON.stringify({
      email: 'gc@example.test',
      password: 'correct horse battery',
    })
    const post = (path: string) =>
      httpRequest(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: credentials,
      })
    expect((await post('/register')).status).toBe(201)
    token = (await post('/login')).json<{ access_token: string }>().access_token
  })

  afterAll(async () => {
    await server?.stop('SIGTERM')
    await database?.drop()
    await rm(dataDir, { recursive: true, force: true })
  })

  /** Full (mark-compact) GCs so far, from Satchel's own metrics. */
  async function fullGcs(): Promise<number> {
    const { body } = await httpRequest(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    })
    const count = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(String(body))
    return Number(count?.[1] ?? 0)
  }

  it('is stored by POST /upload without full garbage collections', async () => {
    const before = await fullGcs()
    const res = await upload(server.url, token, [
      { name: 'file', filename: 'big.bin', body: generatedBytes(UPLOAD_BYTES) },
    ])
    expect(res.status).toBe(201)
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)

  /** Sends the upload as tus PATCHes of `patchBytes`; resolves once the last is stored. */
  async function tusUpload(patchBytes: number) {
    const auth = { authorization: `Bearer ${token}` }
    const created = await httpRequest(`${server.url}/uploads`, {
      method: 'POST',
      headers: {
        ...auth,
        ...TUS,
        'upload-length': String(UPLOAD_BYTES),
        'upload-metadata': tusMetadata({ filename: 'big.bin' }),
      },
    })
    expect(created.status).toBe(201)
    const location = String(new URL(String(created.headers.location), server.url))
    for (let offset = 0; offset < UPLOAD_BYTES; offset += patchBytes) {
      const patched = await httpRequest(location, {
        method: 'PATCH',
        headers: {
          ...auth,
          ...TUS,
          ...OCTETS,
          'upload-offset': String(offset),
          'content-length': String(patchBytes),
        },
        body: generatedBytes(patchBytes),
      })
      expect(patched.status).toBe(204)
    }
  }

  it('is stored by a tus PATCH without full garbage collections', async () => {
    const before = await fullGcs()
    await tusUpload(UPLOAD_BYTES)
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)

  // Each PATCH's two blocks outlive its minor GCs: fresh ones per PATCH piled up in the old
  // generation until a full GC (4–6 here), so they are kept for the next (uploads/block-pool.ts).
  it('is stored by tus PATCHes of 32 MiB without full garbage collections', async () => {
    const before = await fullGcs()
    await tusUpload(32 * MiB)
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)
})
