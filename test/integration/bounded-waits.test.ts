import { readdir } from 'node:fs/promises'
import { request } from 'node:http'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { upload } from '../helpers/multipart.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { withFaults } from '../helpers/stores.js'

/** Every file under `dir`, `.tmp` partials included. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name))
}

async function rowsOf(t: TestApp, user: TestUser) {
  return t.database.db
    .selectFrom('files')
    .select(['id', 'status'])
    .where('owner_id', '=', user.id)
    .execute()
}

interface StalledUpload {
  /** The response, or a rejection if none came within `ms`. */
  response(ms: number): Promise<{ status: number; body: string; headers: Record<string, unknown> }>
  /** Resolves when the server closes the connection. */
  closed: Promise<void>
}

/** Sends the headers and `sent` of a multipart body over real HTTP, then goes silent. */
function stalledUpload(base: string, user: TestUser, sent: string): StalledUpload {
  const req = request(`${base}/upload`, {
    method: 'POST',
    headers: {
      ...user.auth,
      'content-type': 'multipart/form-data; boundary=stall',
      'content-length': String(sent.length + 1_000_000),
    },
  })
  const closed = new Promise<void>((resolve) => req.on('close', resolve))
  const answered = new Promise<{ status: number; body: string; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      req.on('error', reject)
      req.on('response', (res) => {
        let body = ''
        res.on('data', (chunk) => {
          body += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      })
    },
  )
  answered.catch(() => undefined)
  req.flushHeaders()
  req.write(sent)
  return {
    closed,
    response(ms) {
      const timer = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no response within ${ms} ms`)), ms).unref(),
      )
      return Promise.race([answered, timer]).finally(() => req.destroy())
    },
  }
}

const part = (name: string) =>
  `--stall\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n` +
  'Content-Type: application/octet-stream\r\n\r\n'

describe.each(['local', 's3'] as const)(
  'an upload that stops sending, on the %s driver',
  (driver) => {
    let t: TestApp
    let s3: S3TestServer | undefined
    let base: string
    let user: TestUser
    // While set, the store starts reading an upload only after this long.
    let storeDelayMs = 0
    beforeAll(async () => {
      s3 = driver === 's3' ? await startS3Server() : undefined
      t = await buildTestApp(
        { UPLOAD_IDLE_TIMEOUT_SECONDS: '1', ...s3?.env },
        { store: (store) => withFaults(store, { put: () => sleep(storeDelayMs) }) },
      )
      base = await t.app.listen({ port: 0, host: '127.0.0.1' })
      user = await signUp(t.app)
    })
    afterAll(async () => {
      await t.close()
      await s3?.close()
    })

    async function storedBlobs() {
      const keys: string[] = []
      for await (const blob of t.store.list()) keys.push(blob.key)
      const partials = driver === 'local' ? await filesUnder(join(t.dataDir, 'blobs')) : []
      const multipart = (await s3?.pendingMultipartUploads()) ?? 0
      return { keys, partials, multipart }
    }

    it.each([
      ['in the middle of a file', `${part('slow.bin')}${'x'.repeat(100_000)}`],
      ['after a whole file, before the next part', `${part('one.bin')}first\r\n${part('two.bin')}`],
    ])('%s: 408 upload_timeout, the connection closes, nothing is kept', async (_, sent) => {
      const started = Date.now()
      const upload = stalledUpload(base, user, sent)
      const res = await upload.response(4000)
      expect(res.status).toBe(408)
      expect(res.headers['content-type']).toContain('application/problem+json')
      expect(JSON.parse(res.body)).toMatchObject({ status: 408, code: 'upload_timeout' })
      expect(Date.now() - started).toBeLessThan(3000)
      await upload.closed
      expect(await rowsOf(t, user)).toEqual([])
      expect(await storedBlobs()).toEqual({ keys: [], partials: [], multipart: 0 })
    })

    it('does not cut an upload that keeps sending, however long it takes in all', async () => {
      const chunks = [
        '--steady\r\nContent-Disposition: form-data; name="file"; filename="steady.txt"\r\n\r\n',
        'a',
        'b',
        'c',
        '\r\n--steady--\r\n',
      ]
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`${base}/upload`, {
          method: 'POST',
          headers: { ...user.auth, 'content-type': 'multipart/form-data; boundary=steady' },
        })
        req.on('error', reject)
        req.on('response', (r) => {
          r.resume()
          resolve(r.statusCode ?? 0)
        })
        const next = () => {
          const chunk = chunks.shift()
          if (chunk === undefined) return req.end()
          req.write(chunk)
          setTimeout(next, 600)
        }
        next()
      })
      // Gaps of 0.6 s: 2.4 s in all, over the 1 s idle timeout, yet never idle for 1 s.
      expect(status).toBe(201)
    })

    it('does not count the time the store keeps the body waiting', async () => {
      storeDelayMs = 2500
      try {
        const res = await upload(base, user.accessToken, [
          { name: 'file', filename: 'patient.bin', body: Buffer.alloc(4 * 1024 * 1024, 2) },
        ])
        expect(res.status, res.body.toString()).toBe(201)
      } finally {
        storeDelayMs = 0
      }
    })
  },
)

/** An errno error as fs raises it when the disk is full. */
function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
  })
}

/** The store, with every put failing as a full disk would, once some bytes were written. */
function fullDisk(store: BlobStore): BlobStore {
  return {
    ...withFaults(store, {}),
    put(key, body, options) {
      let seen = 0
      const failing = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          seen += chunk.length
          done(seen > 64 * 1024 ? enospc() : null, chunk)
        },
      })
      // The store may pipe `failing` only after an await of its own, and its first 64 KiB
      // can pass before then: the error waits in the stream's state for the store to find,
      // rather than going unheard and out of the process as an uncaught exception.
      failing.on('error', () => {})
      body.pipe(failing)
      body.on('error', (err) => failing.destroy(err))
      return store.put(key, failing, options)
    },
  }
}

describe('a full disk', () => {
  let t: TestApp
  let base: string
  let user: TestUser
  beforeAll(async () => {
    t = await buildTestApp({ METRICS_TOKEN: 'metrics-token-0123456789' }, { store: fullDisk })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
    user = await signUp(t.app)
  })
  afterAll(() => t.close())

  const uploadDurations = async () => {
    const metrics = (
      await t.app.inject({
        url: '/metrics',
        headers: { authorization: 'Bearer metrics-token-0123456789' },
      })
    ).body
    const count = (outcome: string) =>
      Number(
        new RegExp(`satchel_upload_duration_seconds_count\\{outcome="${outcome}"\\} (\\d+)`).exec(
          metrics,
        )?.[1] ?? 0,
      )
    return { stored: count('stored'), failed: count('failed') }
  }

  it('gives 507 insufficient_storage and keeps nothing', async () => {
    const res = await upload(base, user.accessToken, [
      { name: 'file', filename: 'big.bin', body: Buffer.alloc(512 * 1024, 1) },
    ])
    expect(res.status).toBe(507)
    expect(res.headers['content-type']).toContain('application/problem+json')
    expect(res.json()).toMatchObject({ status: 507, code: 'insufficient_storage' })
    expect(await rowsOf(t, user)).toEqual([])
    expect(await filesUnder(join(t.dataDir, 'blobs'))).toEqual([])
  })

  it('records a failed upload in the upload-duration metric as failed', async () => {
    const before = await uploadDurations()
    const res = await upload(base, user.accessToken, [{ name: 'note', value: 'no file part' }])
    expect(res.status).toBe(400)
    expect(await uploadDurations()).toEqual({ stored: before.stored, failed: before.failed + 1 })
  })

  it('leaves /readyz at 200 with the default minimum on a disk with room', async () => {
    expect((await t.app.inject({ url: '/readyz' })).statusCode).toBe(200)
  })
})

describe('GET /readyz and free disk space', () => {
  it('is 503 naming disk when DATA_DIR has less than MIN_FREE_DISK_BYTES free', async () => {
    // 1 PiB: more than any disk this runs on.
    const t = await buildTestApp({ MIN_FREE_DISK_BYTES: String(2 ** 50) })
    try {
      const res = await t.app.inject({ url: '/readyz' })
      expect(res.statusCode).toBe(503)
      expect(res.headers['retry-after']).toBeDefined()
      expect(res.json().detail).toContain('disk')
    } finally {
      await t.close()
    }
  })
})
