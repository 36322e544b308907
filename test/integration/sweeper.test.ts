import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BlobPurger } from '../../src/files/blob-purger.js'
import { FilesRepository } from '../../src/files/files-repository.js'
import { createLogger } from '../../src/infra/logger.js'
import { SweepRepository } from '../../src/jobs/sweep-repository.js'
import { Sweeper } from '../../src/jobs/sweeper.js'
import { SharesRepository } from '../../src/shares/shares-repository.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import type { TestApp } from '../helpers/build-test-app.js'
import { buildDriverApp } from '../helpers/driver-app.js'
import { injectUpload } from '../helpers/files.js'
import { interceptDeletes } from '../helpers/stores.js'

describe.each(['local', 's3'] as const)('the sweeper on the %s driver', (driver) => {
  let t: TestApp
  let user: TestUser
  beforeAll(async () => {
    t = await buildDriverApp(driver, { UPLOAD_GRACE_SECONDS: '60' })
    user = await signUp(t.app)
  })
  afterAll(() => t.close())

  const db = () => t.database.db
  const row = (id: string) =>
    db().selectFrom('files').selectAll().where('id', '=', id).executeTakeFirst()
  const keyOf = async (id: string) => (await row(id))!.storage_key
  const expire = (ids: string[]) =>
    db()
      .updateTable('files')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', 'in', ids)
      .execute()
  const sweeperWith = (store: BlobStore) =>
    new Sweeper({
      sweeps: new SweepRepository(db()),
      purger: new BlobPurger(new FilesRepository(db()), store, {
        leaseMs: 60_000,
        deleteTimeoutMs: 5_000,
      }),
      shares: new SharesRepository(db()),
      store,
      logger: createLogger('silent'),
      batchSize: 7,
      maxSweepSeconds: 30,
      uploadGraceSeconds: 60,
      onFilesExpired: async () => {},
      finishClosedAccounts: async () => 0,
      sweepTusUploads: async () => 0,
    })

  it("deletes an expired file's blob, row and links, and leaves live files alone", async () => {
    const doomed = await injectUpload(t.app, user, 'doomed.txt', Buffer.from('bye'))
    const live = await injectUpload(t.app, user, 'live.txt', Buffer.from('hi'))
    await t.app.inject({ url: `/share/${doomed.id}`, headers: user.auth })
    const key = await keyOf(doomed.id)
    await expire([doomed.id])

    const counts = await t.app.sweeper.sweep()
    expect(counts).toMatchObject({ expiredFiles: 1, purgedFiles: 1, failedBlobDeletes: 0 })
    expect(await row(doomed.id)).toBeUndefined()
    expect(await t.store.head(key)).toBeUndefined()
    expect(
      await db().selectFrom('shares').select('id').where('file_id', '=', doomed.id).execute(),
    ).toEqual([])
    expect((await row(live.id))?.status).toBe('available')
    expect(await t.store.head(await keyOf(live.id))).toBeDefined()
  })

  it('retries a blob whose deletion failed, on the next sweep', async () => {
    const file = await injectUpload(t.app, user, 'stubborn.txt', Buffer.from('x'))
    const key = await keyOf(file.id)
    await expire([file.id])
    let failures = 1
    const flaky = interceptDeletes(t.store, async (k, remove) => {
      if (failures-- > 0) throw new Error('store unavailable')
      return remove(k)
    })
    const sweeper = sweeperWith(flaky)
    expect(await sweeper.sweep()).toMatchObject({
      expiredFiles: 1,
      purgedFiles: 0,
      failedBlobDeletes: 1,
    })
    expect((await row(file.id))?.status).toBe('deleted')
    expect((await t.app.inject({ url: `/files/${file.id}`, headers: user.auth })).statusCode).toBe(
      404,
    )
    expect(await sweeper.sweep()).toMatchObject({ purgedFiles: 1, failedBlobDeletes: 0 })
    expect(await row(file.id)).toBeUndefined()
    expect(await t.store.head(key)).toBeUndefined()
  })

  it('removes an abandoned upload and an orphan blob once they are past the grace period', async () => {
    const abandonedKey = newBlobKey()
    await t.store.put(abandonedKey, Readable.from([Buffer.from('partial')]))
    const pendingId = crypto.randomUUID()
    const longAgo = new Date(Date.now() - 3600_000)
    await db()
      .insertInto('files')
      .values({
        id: pendingId,
        owner_id: user.id,
        name: 'p',
        storage_key: abandonedKey,
        driver,
        status: 'pending',
        created_at: longAgo,
        updated_at: longAgo,
        lease_until: longAgo,
      })
      .execute()
    const orphanKey = newBlobKey()
    await t.store.put(orphanKey, Readable.from([Buffer.from('orphan')]))
    const old = new Date(Date.now() + 120_000)
    // The sweeper measures blob age by the store's clock: pretend it is two minutes later.
    const sweeper = sweeperWith(t.store)
    const realNow = Date.now
    Date.now = () => old.getTime()
    try {
      const counts = await sweeper.sweep()
      expect(counts.abandonedUploads).toBe(1)
      expect(counts.orphanBlobs).toBeGreaterThanOrEqual(1)
    } finally {
      Date.now = realNow
    }
    expect(await row(pendingId)).toBeUndefined()
    expect(await t.store.head(abandonedKey)).toBeUndefined()
    expect(await t.store.head(orphanKey)).toBeUndefined()
  })

  it('keeps a fresh pending upload and a young blob', async () => {
    const key = newBlobKey()
    await t.store.put(key, Readable.from([Buffer.from('young')]))
    const counts = await sweeperWith(t.store).sweep()
    expect(counts.orphanBlobs).toBe(0)
    expect(await t.store.head(key)).toBeDefined()
    await t.store.delete(key)
  })

  it('with two workers at once, deletes each expired file exactly once and no live one', async () => {
    const expired = await Promise.all(
      Array.from({ length: 30 }, (_, i) => injectUpload(t.app, user, `e${i}`, Buffer.from([i]))),
    )
    const live = await injectUpload(t.app, user, 'keep', Buffer.from('keep'))
    await expire(expired.map((f) => f.id))
    const deletions = new Map<string, number>()
    const counting = interceptDeletes(t.store, async (k, remove) => {
      deletions.set(k, (deletions.get(k) ?? 0) + 1)
      return remove(k)
    })
    const [a, b] = await Promise.all([sweeperWith(counting).sweep(), sweeperWith(counting).sweep()])
    expect(a.expiredFiles + b.expiredFiles).toBe(30)
    expect(a.purgedFiles + b.purgedFiles).toBe(30)
    expect([...deletions.values()].every((n) => n === 1)).toBe(true)
    expect(deletions.size).toBe(30)
    expect((await row(live.id))?.status).toBe('available')
    const left = await db()
      .selectFrom('files')
      .select('id')
      .where(
        'id',
        'in',
        expired.map((f) => f.id),
      )
      .execute()
    expect(left).toEqual([])
  })
})
