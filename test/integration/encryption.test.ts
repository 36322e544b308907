import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { FilesRepository } from '../../src/files/files-repository.js'
import { rewrapAllFiles } from '../../src/files/key-rotation.js'
import { createLogger } from '../../src/infra/logger.js'
import { createBlobStore } from '../../src/storage/create-blob-store.js'
import { parseKeyRing } from '../../src/storage/key-ring.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, TEST_JWT_SECRET, type TestApp } from '../helpers/build-test-app.js'
import type { Driver } from '../helpers/driver-app.js'
import { injectUpload } from '../helpers/files.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'

const KEY_A = `a:${randomBytes(32).toString('base64')}`
const KEY_B = `b:${randomBytes(32).toString('base64')}`
const MARKER = 'PLAINTEXT-MARKER-'
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

describe.each(['local', 's3'] as Driver[])('encryption at rest on the %s driver', (driver) => {
  let s3: S3TestServer | undefined
  let plain: TestApp
  let user: TestUser
  const apps: TestApp[] = []

  /** Another app over the same database, files and bucket, with its own ENCRYPTION_KEY. */
  const appWith = async (key: string) => {
    const t = await buildTestApp({
      ...(s3?.env ?? {}),
      DATABASE_URL: plain.config.databaseUrl!,
      DATA_DIR: plain.dataDir,
      ENCRYPTION_KEY: key,
    })
    apps.push(t)
    return t
  }
  const download = (t: TestApp, id: string, headers: Record<string, string> = {}) =>
    t.app.inject({ url: `/files/${id}/content`, headers: { ...user.auth, ...headers } })
  const rawBytes = async (id: string) => {
    const row = await plain.database.db
      .selectFrom('files')
      .select('storage_key')
      .where('id', '=', id)
      .executeTakeFirstOrThrow()
    const chunks: Buffer[] = []
    for await (const chunk of await plain.store.get(row.storage_key)) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }

  beforeAll(async () => {
    s3 = driver === 's3' ? await startS3Server() : undefined
    plain = await buildTestApp({ ...(s3?.env ?? {}) })
    user = await signUp(plain.app)
  })
  afterAll(async () => {
    for (const t of apps) await t.close()
    await plain.close()
    await s3?.close()
  })

  it('stores ciphertext and serves the plaintext, whole and in ranges across chunk boundaries', async () => {
    const t = await appWith(KEY_A)
    const data = Buffer.from(MARKER.repeat(20_000))
    const file = await injectUpload(t.app, user, 'secret.txt', data)
    expect(file).toMatchObject({ size: data.length, sha256: sha256(data) })
    expect((await download(t, file.id)).rawPayload.equals(data)).toBe(true)
    for (const [start, end] of [
      [0, 0],
      [65_530, 65_545],
      [65_536, 65_536],
      [131_000, 200_000],
      [data.length - 5, data.length - 1],
    ] as const) {
      const res = await download(t, file.id, { range: `bytes=${start}-${end}` })
      expect(res.statusCode).toBe(206)
      expect(res.rawPayload.equals(data.subarray(start, end + 1))).toBe(true)
    }
    const stored = await rawBytes(file.id)
    expect(stored.includes(Buffer.from(MARKER))).toBe(false)
    expect(stored.length).toBeGreaterThan(data.length)
  })

  it('still reads files stored before encryption was turned on', async () => {
    const old = await injectUpload(plain.app, user, 'old.txt', Buffer.from('stored in the clear'))
    const t = await appWith(KEY_A)
    expect((await download(t, old.id)).body).toBe('stored in the clear')
  })

  it('reads old files after rotating to a new key, and re-wraps them so the old key can go', async () => {
    const before = await appWith(KEY_A)
    const file = await injectUpload(before.app, user, 'rotate.txt', Buffer.from('rotate me'))
    const rotated = await appWith(`${KEY_A},${KEY_B}`)
    expect((await download(rotated, file.id)).body).toBe('rotate me')
    const fresh = await injectUpload(rotated.app, user, 'new.txt', Buffer.from('new key'))
    const kid = async (id: string) =>
      JSON.parse(
        (
          await plain.database.db
            .selectFrom('files')
            .select('envelope')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).envelope!,
      ).kid
    expect(await kid(fresh.id)).toBe('b')
    expect(await kid(file.id)).toBe('a')

    const result = await rewrapAllFiles({
      files: new FilesRepository(plain.database.db),
      ring: parseKeyRing(`${KEY_A},${KEY_B}`),
      logger: createLogger('silent'),
    })
    expect(result.rewrapped).toBeGreaterThanOrEqual(1)
    expect(await kid(file.id)).toBe('b')
    const onlyB = await appWith(KEY_B)
    expect((await download(onlyB, file.id)).body).toBe('rotate me')
    expect((await download(onlyB, fresh.id)).body).toBe('new key')
  })

  it('ends a download with an error, never with forged plaintext, when stored bytes are tampered with', async () => {
    const t = await appWith(KEY_A)
    const data = Buffer.from(MARKER.repeat(10_000))
    const file = await injectUpload(t.app, user, 'tamper.txt', data)
    const row = await plain.database.db
      .selectFrom('files')
      .select('storage_key')
      .where('id', '=', file.id)
      .executeTakeFirstOrThrow()
    const stored = await rawBytes(file.id)
    stored[stored.length - 40]! ^= 1
    await plain.store.put(row.storage_key, Readable.from([stored]))
    const res = await download(t, file.id).catch((err: Error) => err)
    // The first chunks are genuine; the damaged last one is never sent.
    const body = res instanceof Error ? Buffer.alloc(0) : res.rawPayload
    expect(body.length).toBeLessThan(data.length)
    expect(data.subarray(0, body.length).equals(body)).toBe(true)
  })
})

describe('ENCRYPTION_KEY', () => {
  it('is validated at start with a one-line message', () => {
    expect(() => parseConfig({ ENCRYPTION_KEY: 'not-a-key', JWT_SECRET: TEST_JWT_SECRET })).toThrow(
      /ENCRYPTION_KEY/,
    )
    expect(parseConfig({ ENCRYPTION_KEY: 'off' }).encryptionOff).toBe(true)
  })

  it('wraps the store only when set', () => {
    const base = { DATA_DIR: '/tmp/unused', JWT_SECRET: TEST_JWT_SECRET }
    expect(createBlobStore(parseConfig(base)).constructor.name).toBe('LocalBlobStore')
    expect(createBlobStore(parseConfig({ ...base, ENCRYPTION_KEY: KEY_A })).constructor.name).toBe(
      'EncryptedBlobStore',
    )
  })
})
