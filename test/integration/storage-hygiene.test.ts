import { randomUUID } from 'node:crypto'
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newBlobKey } from '../../src/storage/blob-key.js'
import { signUp } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { delay, withFaults } from '../helpers/stores.js'

type Driver = 'local' | 's3'

const hourAgo = () => new Date(Date.now() - 3600_000)

/** A key of newBlobKey()'s shape under the fan-out `fanOut`, to place it in key order. */
function keyUnder(fanOut: string): string {
  const id = `${fanOut}${randomUUID().slice(2)}`
  return `blobs/${fanOut}/${id}`
}

/** The bucket or directory behind the store, reached around it as another program would. */
interface Backdoor {
  /** An object at any key, Satchel's shape or not. */
  plant(key: string): Promise<void>
  exists(key: string): Promise<boolean>
  age(key: string, to: Date): Promise<void>
  /** A partial write as a killed upload leaves it (S3 needs its key); resolves to its id. */
  leavePartial(key: string, since: Date): Promise<string>
  partials(): Promise<string[]>
}

function backdoor(t: TestApp, s3: S3TestServer | undefined): Backdoor {
  if (s3) {
    return {
      plant: async (key) => {
        await s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: 'x' }))
      },
      exists: (key) =>
        s3.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key })).then(
          () => true,
          () => false,
        ),
      age: (key, to) => s3.backdateObject(key, to),
      leavePartial: (key, since) => s3.leaveMultipartUpload(key, { initiated: since }),
      partials: async () => {
        const listed = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))
        return (listed.Uploads ?? []).map((upload) => upload.UploadId ?? '')
      },
    }
  }
  const root = join(t.dataDir, 'blobs')
  const tmp = join(root, '.tmp')
  return {
    plant: async (key) => {
      await mkdir(dirname(join(root, key)), { recursive: true })
      await writeFile(join(root, key), 'x')
    },
    exists: (key) =>
      stat(join(root, key)).then(
        () => true,
        () => false,
      ),
    age: (key, to) => utimes(join(root, key), to, to),
    leavePartial: async (_key, since) => {
      const id = randomUUID()
      await mkdir(tmp, { recursive: true })
      await writeFile(join(tmp, id), Buffer.alloc(64 * 1024))
      await utimes(join(tmp, id), since, since)
      return id
    },
    partials: () => readdir(tmp).catch(() => []),
  }
}

async function buildApp(driver: Driver, env: Record<string, string>, slowList = 0) {
  const s3 = driver === 's3' ? await startS3Server() : undefined
  const t = await buildTestApp(
    { ...s3?.env, UPLOAD_GRACE_SECONDS: '60', ...env },
    slowList ? { store: (store) => withFaults(store, { list: delay(slowList) }) } : {},
  )
  return {
    t,
    s3,
    bucket: backdoor(t, s3),
    async close() {
      await t.close()
      await s3?.close()
    },
  }
}

describe.each(['local', 's3'] as const)('storage hygiene on the %s driver', (driver) => {
  let app: Awaited<ReturnType<typeof buildApp>>
  beforeAll(async () => {
    app = await buildApp(driver, {})
  })
  afterAll(() => app.close())

  // First here, so start() meets a sweeper that has not swept yet, as at boot.
  it('removes old partial writes in the sweep that start() runs at once, as at boot', async () => {
    const old = await app.bucket.leavePartial(newBlobKey(), hourAgo())

    app.t.app.sweeper.start(3600)

    for (let waited = 0; (await app.bucket.partials()).includes(old); waited += 50) {
      if (waited > 10_000) throw new Error('the first sweep did not remove the partial')
      await sleep(50)
    }
    // Let that sweep finish before the next test sweeps; the timer waits an hour.
    await app.t.app.sweeper.sweep()
  })

  it('removes partial writes older than the grace in one sweep, and keeps younger ones', async () => {
    const old = await app.bucket.leavePartial(newBlobKey(), hourAgo())
    const young = await app.bucket.leavePartial(newBlobKey(), new Date())

    const counts = await app.t.app.sweeper.sweep()

    const left = await app.bucket.partials()
    expect(left).not.toContain(old)
    expect(left).toContain(young)
    expect(counts).toMatchObject({ stalePartials: 1 })
  })

  it.runIf(driver === 's3')(
    'keeps old multipart uploads a row still references, or that are not of its shape',
    async () => {
      const user = await signUp(app.t.app)
      const referenced = newBlobKey()
      await app.t.database.db
        .insertInto('files')
        .values({
          id: randomUUID(),
          owner_id: user.id,
          name: 'in-flight.bin',
          storage_key: referenced,
          driver,
          status: 'pending',
        })
        .execute()
      const kept = await Promise.all(
        [referenced, 'other/upload.bin', 'blobs/ab/not-a-uuid'].map((key) =>
          app.bucket.leavePartial(key, hourAgo()),
        ),
      )

      const counts = await app.t.app.sweeper.sweep()

      expect(await app.bucket.partials()).toEqual(expect.arrayContaining(kept))
      expect(counts).toMatchObject({ stalePartials: 0 })
    },
  )

  it.runIf(driver === 's3')(
    'aborts the multipart upload of an upload whose process died, in the sweep that reaps its row',
    async () => {
      const user = await signUp(app.t.app)
      const key = newBlobKey()
      const id = randomUUID()
      await app.t.database.db
        .insertInto('files')
        .values({
          id,
          owner_id: user.id,
          name: 'cut-off.bin',
          storage_key: key,
          driver,
          status: 'pending',
          lease_until: hourAgo(),
        })
        .execute()
      const partial = await app.bucket.leavePartial(key, hourAgo())

      const counts = await app.t.app.sweeper.sweep()

      expect(await app.bucket.partials()).not.toContain(partial)
      const row = await app.t.database.db
        .selectFrom('files')
        .select('id')
        .where('id', '=', id)
        .executeTakeFirst()
      expect(row).toBeUndefined()
      expect(counts).toMatchObject({ abandonedUploads: 1, stalePartials: 1 })
    },
  )

  it('skips foreign objects and referenced blobs, and still removes a real orphan listed after them', async () => {
    const uuid = randomUUID()
    const foreign = [
      'other/readme.txt',
      'blobs/notes.txt',
      'blobs/ab/not-a-uuid',
      `blobs/ab/${uuid.toUpperCase()}`,
      // The right shape, but a fan-out that is not its UUID's first byte.
      `blobs/${uuid.startsWith('cd') ? 'ef' : 'cd'}/${uuid}`,
      'zz/after-everything',
    ]
    const orphan = keyUnder('ff')
    await app.t.store.put(orphan, Readable.from([Buffer.from('orphan')]))
    for (const key of foreign) await app.bucket.plant(key)
    const file = await injectUpload(
      app.t.app,
      await signUp(app.t.app),
      'kept.txt',
      Buffer.from('k'),
    )
    const { storage_key: referenced } = await app.t.database.db
      .selectFrom('files')
      .select('storage_key')
      .where('id', '=', file.id)
      .executeTakeFirstOrThrow()
    for (const key of [orphan, referenced, ...foreign]) await app.bucket.age(key, hourAgo())

    const counts = await app.t.app.sweeper.sweep()

    expect(await app.bucket.exists(orphan)).toBe(false)
    expect(await app.bucket.exists(referenced)).toBe(true)
    for (const key of foreign) expect(await app.bucket.exists(key)).toBe(true)
    expect(counts.orphanBlobs).toBe(1)
  })
})

describe.each(['local', 's3'] as const)(
  'the orphan scan on the %s driver, on a store too slow to list within one sweep',
  (driver) => {
    // 50 ms per listed key and a 1 s sweep: at most 20 keys a sweep, so a scan that starts
    // over each time never passes the 50 young blobs that come first in key order.
    const YOUNG_BLOBS = 50
    const MAX_SWEEPS = 10
    let app: Awaited<ReturnType<typeof buildApp>>
    beforeAll(async () => {
      app = await buildApp(driver, { SWEEP_MAX_SECONDS: '1' }, 50)
      await Promise.all(
        Array.from({ length: YOUNG_BLOBS }, (_, i) =>
          app.t.store.put(keyUnder((0x10 + i).toString(16)), Readable.from([Buffer.from('young')])),
        ),
      )
    })
    afterAll(() => app.close())

    async function sweepsUntilGone(key: string): Promise<number> {
      for (let sweeps = 1; sweeps <= MAX_SWEEPS; sweeps++) {
        await app.t.app.sweeper.sweep()
        if (!(await app.bucket.exists(key))) return sweeps
      }
      return Number.POSITIVE_INFINITY
    }

    it('resumes where the last sweep stopped, and wraps around at the end', async () => {
      const last = keyUnder('ff')
      await app.t.store.put(last, Readable.from([Buffer.from('orphan')]))
      await app.bucket.age(last, hourAgo())
      expect(await sweepsUntilGone(last)).toBeLessThanOrEqual(MAX_SWEEPS)

      const first = keyUnder('00')
      await app.t.store.put(first, Readable.from([Buffer.from('orphan')]))
      await app.bucket.age(first, hourAgo())
      expect(await sweepsUntilGone(first)).toBeLessThanOrEqual(MAX_SWEEPS)
    }, 60_000)
  },
)
