import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import * as tus from 'tus-js-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { sha256, startCountingProxy } from '../helpers/tus.js'

const MB = 1_000_000
const MiB = 1024 * 1024
const CHUNK = 50 * MiB
// Resumes may meet the lease of the PATCH the cut left behind (423) until it has finished.
const RETRIES = [100, 300, 1000, 2000, 4000]

type Setup = 'local' | 's3' | 's3, encrypted'

async function listening(t: TestApp): Promise<string> {
  await t.app.listen({ port: 0, host: '127.0.0.1' })
  return `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`
}

/** Runs a tus-js-client upload to its end; rejects with its error. */
function upload(data: Buffer, options: tus.UploadOptions): Promise<tus.Upload> {
  return new Promise((resolve, reject) => {
    const u: tus.Upload = new tus.Upload(data, {
      ...options,
      onSuccess: () => resolve(u),
      onError: (err) => reject(Object.assign(err, { url: u.url })),
    })
    u.start()
  })
}

describe.each(['local', 's3', 's3, encrypted'] as Setup[])(
  'tus-js-client on %s storage',
  (setup) => {
    let s3: S3TestServer | undefined
    let t: TestApp
    let base: string
    let user: TestUser

    beforeAll(async () => {
      s3 = setup === 'local' ? undefined : await startS3Server()
      const encryption: Record<string, string> =
        setup === 's3, encrypted'
          ? { ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}` }
          : {}
      t = await buildTestApp({ ...(s3?.env ?? {}), ...encryption })
      base = await listening(t)
      user = await signUp(t.app)
    })
    afterAll(async () => {
      await t?.close()
      await s3?.close()
    })

    const options = (endpoint: string, name: string): tus.UploadOptions => ({
      endpoint: `${endpoint}/uploads`,
      chunkSize: CHUNK,
      retryDelays: null,
      headers: user.auth,
      metadata: { filename: name, filetype: 'application/octet-stream' },
    })
    const fileNamed = async (name: string) => {
      const list = await t.app.inject({ url: `/files?q=${name}`, headers: user.auth })
      const [file] = list.json().items
      const content = await t.app.inject({ url: `/files/${file.id}/content`, headers: user.auth })
      return { file, bytes: content.rawPayload }
    }
    /** The offset the server recorded once the PATCH the cut interrupted has let go. */
    const settledOffset = async (url: string) => {
      const id = url.split('/').pop()!
      for (;;) {
        const row = await t.database.db
          .selectFrom('tus_uploads')
          .select(['holder', 'upload_offset'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow()
        if (row.holder === null) return row.upload_offset
        await sleep(50)
      }
    }

    it('resumes a 200 MB upload cut at ~50% with the same URL, sending only what is missing', async () => {
      const data = randomBytes(200 * MB)
      const proxy = await startCountingProxy(Number(new URL(base).port))
      try {
        proxy.cutAfter(100 * MB)
        const cut = await upload(data, options(proxy.url, 'big.bin')).then(
          () => expect.fail('the cut upload succeeded'),
          (err: { url: string | null }) => err,
        )
        expect(cut.url).toMatch(/\/uploads\/[\w-]{22,}$/)
        const kept = await settledOffset(cut.url!)
        // What arrived before the cut was kept, not just the whole chunks.
        expect(kept).toBeGreaterThan(90 * MB)
        const before = proxy.sent()
        await upload(data, {
          ...options(proxy.url, 'big.bin'),
          uploadUrl: cut.url,
          retryDelays: RETRIES,
        })
        const resent = proxy.sent() - before
        expect(resent).toBeLessThanOrEqual(data.length - kept + CHUNK)
        const { file, bytes } = await fileNamed('big.bin')
        expect(file.sha256).toBe(sha256(data))
        expect(bytes.equals(data)).toBe(true)
      } finally {
        await proxy.close()
      }
    }, 180_000)

    it('uploads with parallelUploads: 4 (concatenation) into a byte-identical file', async () => {
      const data = randomBytes(48 * MiB + 5)
      await upload(data, {
        ...options(base, 'parallel.bin'),
        parallelUploads: 4,
        chunkSize: 16 * MiB,
      })
      const { file, bytes } = await fileNamed('parallel.bin')
      expect(file.size).toBe(data.length)
      expect(bytes.equals(data)).toBe(true)
      expect(file.sha256).toBe(sha256(data))
      // The partials are gone: no upload row is left but the final one.
      const rows = await t.database.db
        .selectFrom('tus_uploads')
        .select('concat')
        .where('owner_id', '=', user.id)
        .execute()
      expect(rows.filter((r) => r.concat === 'partial')).toEqual([])
    }, 90_000)
  },
)

describe('tus-js-client across two instances (one database, S3 via s3rver)', () => {
  let s3: S3TestServer
  let a: TestApp
  let b: TestApp
  let user: TestUser

  beforeAll(async () => {
    s3 = await startS3Server()
    a = await buildTestApp(s3.env)
    b = await buildTestApp({ ...s3.env, DATABASE_URL: a.config.databaseUrl! })
    user = await signUp(a.app)
  })
  afterAll(async () => {
    await b?.close()
    await a?.close()
    await s3?.close()
  })

  it('resumes on the second instance what the first one received', async () => {
    const data = randomBytes(60 * MB)
    const baseA = await listening(a)
    const baseB = await listening(b)
    const proxy = await startCountingProxy(Number(new URL(baseA).port))
    const options = (endpoint: string): tus.UploadOptions => ({
      endpoint: `${endpoint}/uploads`,
      chunkSize: 16 * MiB,
      retryDelays: null,
      headers: user.auth,
      metadata: { filename: 'moved.bin' },
    })
    try {
      proxy.cutAfter(30 * MB)
      const cut = await upload(data, options(proxy.url)).then(
        () => expect.fail('the cut upload succeeded'),
        (err: { url: string | null }) => err,
      )
      const path = new URL(cut.url!).pathname
      await upload(data, { ...options(baseB), uploadUrl: `${baseB}${path}`, retryDelays: RETRIES })
      const list = await b.app.inject({ url: '/files', headers: user.auth })
      const [file] = list.json().items
      expect(file).toMatchObject({ name: 'moved.bin', size: data.length, sha256: sha256(data) })
      const content = await a.app.inject({ url: `/files/${file.id}/content`, headers: user.auth })
      expect(content.rawPayload.equals(data)).toBe(true)
    } finally {
      await proxy.close()
    }
  }, 90_000)
})
