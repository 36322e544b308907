import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import type { TestApp } from '../helpers/build-test-app.js'
import { buildDriverApp } from '../helpers/driver-app.js'
import { injectUpload } from '../helpers/files.js'
import { multipartBody } from '../helpers/multipart.js'

const MiB = 1024 * 1024
const QUOTA = 10 * MiB

describe.each(['local', 's3'] as const)('storage quotas on the %s driver', (driver) => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildDriverApp(driver, { DEFAULT_QUOTA_BYTES: String(QUOTA) })
  })
  afterAll(() => t.close())

  const post = (user: TestUser, parts: { name: string; body: Buffer }[]) => {
    const { boundary, stream } = multipartBody(
      parts.map((p) => ({ name: 'file', filename: p.name, body: p.body })),
    )
    return t.app.inject({
      method: 'POST',
      url: '/upload',
      headers: { ...user.auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload: stream,
    })
  }
  const account = async (user: TestUser) => {
    const row = await t.database.db
      .selectFrom('users')
      .select('used_bytes')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow()
    const files = await t.database.db
      .selectFrom('files')
      .select(['id', 'size', 'status', 'storage_key'])
      .where('owner_id', '=', user.id)
      .execute()
    return { used: row.used_bytes, files }
  }

  it('lets 20 parallel uploads that together exceed the quota store no more than it', async () => {
    const user = await signUp(t.app)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(user, [{ name: `f${i}.bin`, body: Buffer.alloc(MiB, i) }]),
      ),
    )
    const stored = results.filter((r) => r.statusCode === 201)
    const refused = results.filter((r) => r.statusCode !== 201)
    expect(stored.length).toBeGreaterThan(0)
    expect(stored.length).toBeLessThanOrEqual(10)
    for (const res of refused) {
      expect(res.statusCode).toBe(413)
      expect(res.json().code).toBe('quota_exceeded')
    }
    const { used, files } = await account(user)
    // Every refused upload left nothing: the only rows are the stored files.
    expect(files.map((f) => f.status).sort()).toEqual(stored.map(() => 'available'))
    const total = files.reduce((sum, f) => sum + f.size, 0)
    expect(total).toBeLessThanOrEqual(QUOTA)
    expect(used).toBe(total)
    for (const file of files) expect(await t.store.head(file.storage_key)).toBeDefined()
  })

  it('refuses a file larger than the quota with 413 quota_exceeded, keeping nothing', async () => {
    const user = await signUp(t.app)
    const res = await post(user, [{ name: 'big.bin', body: Buffer.alloc(QUOTA + 1, 7) }])
    expect(res.statusCode).toBe(413)
    expect(res.json().code).toBe('quota_exceeded')
    expect(await account(user)).toEqual({ used: 0, files: [] })
  })

  it('counts a multi-file upload whole or not at all', async () => {
    const user = await signUp(t.app)
    await injectUpload(t.app, user, 'base.bin', Buffer.alloc(6 * MiB, 1))
    const res = await post(user, [
      { name: 'fits.bin', body: Buffer.alloc(2 * MiB, 2) },
      { name: 'does-not.bin', body: Buffer.alloc(3 * MiB, 3) },
    ])
    expect(res.statusCode).toBe(413)
    const { used, files } = await account(user)
    expect(files).toHaveLength(1)
    expect(used).toBe(6 * MiB)
  })

  it('keeps used_bytes equal to what the files take through uploads, failures, deletes and expiry', async () => {
    const user = await signUp(t.app)
    const a = await injectUpload(t.app, user, 'a.bin', Buffer.alloc(MiB, 1))
    const b = await injectUpload(t.app, user, 'b.bin', Buffer.alloc(2 * MiB, 2))
    await injectUpload(t.app, user, 'c.bin', Buffer.alloc(3 * MiB + 5, 3))
    // A part that breaks off mid-way fails the upload; its reservation goes back.
    const bad = await t.app.inject({
      method: 'POST',
      url: '/upload',
      headers: { ...user.auth, 'content-type': 'multipart/form-data; boundary=x' },
      payload: `--x\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n\r\n${'z'.repeat(300_000)}`,
    })
    expect(bad.statusCode).toBe(400)
    expect(
      (await t.app.inject({ method: 'DELETE', url: `/files/${a.id}`, headers: user.auth }))
        .statusCode,
    ).toBe(204)
    await t.database.db
      .updateTable('files')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', b.id)
      .execute()
    await t.app.sweeper.sweep()
    const { used, files } = await account(user)
    expect(files.map((f) => f.size)).toEqual([3 * MiB + 5])
    expect(used).toBe(3 * MiB + 5)
    const me = await t.app.inject({ url: '/me', headers: user.auth })
    expect(me.json()).toMatchObject({ used_bytes: 3 * MiB + 5, quota_bytes: QUOTA })
  })
})
