import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newBlobKey } from '../../src/storage/blob-key.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildDriverApp, type Driver } from '../helpers/driver-app.js'
import { injectUpload } from '../helpers/files.js'
import { connectEvents } from '../helpers/sockets.js'

describe.each(['local', 's3'] as const)('DELETE /me on the %s driver', (driver: Driver) => {
  let t: Awaited<ReturnType<typeof buildDriverApp>>
  let base: string
  beforeAll(async () => {
    t = await buildDriverApp(driver)
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
  }, 60_000)
  afterAll(() => t?.close())

  const db = () => t.database.db
  const count = async (table: 'files' | 'sessions' | 'shares' | 'users', userId: string) => {
    const column =
      table === 'users' ? 'id' : table === 'files' || table === 'shares' ? 'owner_id' : 'user_id'
    const row = await db()
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where(column, '=', userId)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }
  const blobKeys = async () => {
    const keys: string[] = []
    for await (const blob of t.store.list({})) keys.push(blob.key)
    return keys
  }
  const deleteMe = (user: TestUser, password: string) =>
    t.app.inject({ method: 'DELETE', url: '/me', headers: user.auth, payload: { password } })

  it('refuses a wrong password and changes nothing', async () => {
    const user = await signUp(t.app)
    const res = await deleteMe(user, 'not the password')
    expect([res.statusCode, res.json().code]).toEqual([401, 'invalid_credentials'])
    expect((await t.app.inject({ url: '/me', headers: user.auth })).statusCode).toBe(200)
  })

  it('stops tokens, links, signed URLs and sockets at once; one sweep leaves nothing', async () => {
    const user = await signUp(t.app)
    const bystander = await signUp(t.app)
    const kept = await injectUpload(t.app, bystander, 'kept.txt', Buffer.from('not theirs'))
    const files = await Promise.all(
      [1, 2, 3].map((i) => injectUpload(t.app, user, `f${i}.txt`, Buffer.alloc(1000 * i, i))),
    )
    const keysBefore = await blobKeys()
    const link = await t.app.inject({ url: `/share/${files[0]!.id}`, headers: user.auth })
    // 200 when the default link already existed, 201 when this created it.
    expect([200, 201], link.body).toContain(link.statusCode)
    const linkPath = new URL(link.json().url).pathname
    const signed = await t.app.inject({ url: `/files/${files[1]!.id}`, headers: user.auth })
    const signedPath = new URL(signed.json().url).pathname + new URL(signed.json().url).search
    // Read once, so the file metadata is cached: deletion must drop it.
    expect((await t.app.inject({ url: linkPath })).statusCode).toBe(200)
    expect((await t.app.inject({ url: signedPath })).statusCode).toBe(200)
    const socket = await connectEvents(base, user.accessToken)

    const res = await deleteMe(user, user.password)
    expect(res.statusCode, res.body).toBe(204)

    expect((await t.app.inject({ url: '/me', headers: user.auth })).statusCode).toBe(401)
    expect((await t.app.inject({ url: linkPath })).statusCode).toBe(404)
    expect((await t.app.inject({ url: signedPath })).statusCode).toBe(404)
    const refresh = await t.app.inject({
      method: 'POST',
      url: '/token/refresh',
      payload: { refresh_token: user.refreshToken },
    })
    expect(refresh.statusCode).toBe(401)
    await socket.waitFor((e) => e.type === 'access.revoked', 2000)
    const login = await t.app.inject({
      method: 'POST',
      url: '/login',
      payload: { email: user.email, password: user.password },
    })
    expect(login.statusCode).toBe(401)

    const counts = await t.app.sweeper.sweep({ orphans: false })
    expect(counts).toMatchObject({ purgedFiles: 3, failedBlobDeletes: 0, removedAccounts: 1 })
    for (const table of ['files', 'sessions', 'shares', 'users'] as const)
      expect([table, await count(table, user.id)]).toEqual([table, 0])
    const keysAfter = await blobKeys()
    expect(keysAfter.length).toBe(keysBefore.length - 3)
    expect(await count('files', bystander.id)).toBe(1)
    const still = await t.app.inject({ url: `/files/${kept.id}`, headers: bystander.auth })
    expect(still.statusCode).toBe(200)

    // The email is free at once, for a new and separate account.
    const again = await signUp(t.app, user.email)
    expect(again.id).not.toBe(user.id)
    const list = await t.app.inject({ url: '/files', headers: again.auth })
    expect(list.json().items).toEqual([])
  })

  it('an account deleted with an upload in flight keeps that blob until its lease lapses', async () => {
    const user = await signUp(t.app)
    // The row an uploader holds, as upload() inserts it before the first byte.
    const { id } = await db()
      .insertInto('files')
      .values({
        id: crypto.randomUUID(),
        owner_id: user.id,
        name: 'inflight.bin',
        storage_key: newBlobKey(),
        driver: t.store.driver,
        status: 'pending',
        lease_until: new Date(Date.now() + 60_000),
      })
      .returning('id')
      .executeTakeFirstOrThrow()
    expect((await deleteMe(user, user.password)).statusCode).toBe(204)
    const first = await t.app.sweeper.sweep({ orphans: false })
    expect(first.removedAccounts).toBe(0)
    const row = await db()
      .selectFrom('files')
      .select('status')
      .where('id', '=', id)
      .executeTakeFirst()
    expect(row?.status).toBe('deleted')

    // The uploader died: its lease lapses, and the next sweep finishes the account.
    await db()
      .updateTable('files')
      .set({ lease_until: new Date(0) })
      .where('id', '=', id)
      .execute()
    const second = await t.app.sweeper.sweep({ orphans: false })
    expect(second).toMatchObject({ purgedFiles: 1, removedAccounts: 1 })
    expect(await count('users', user.id)).toBe(0)
  })
})
