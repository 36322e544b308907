import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import type { TestApp } from '../helpers/build-test-app.js'
import { buildDriverApp } from '../helpers/driver-app.js'
import { multipartBody, type Part } from '../helpers/multipart.js'
import { type Fault, fail, gate, withFaults } from '../helpers/stores.js'

const MiB = 1024 * 1024
const QUOTA = 4 * MiB
const DAY_MS = 24 * 3600 * 1000

describe.each(['local', 's3'] as const)('Idempotency-Key on POST /upload, %s driver', (driver) => {
  let t: TestApp
  // What the next store writes go through: nothing, a failure, a gate.
  let putFault: Fault | undefined
  beforeAll(async () => {
    t = await buildDriverApp(
      driver,
      { DEFAULT_QUOTA_BYTES: String(QUOTA) },
      {
        store: (store) =>
          withFaults(store, { put: (m, a) => putFault?.(m, a) ?? Promise.resolve() }),
      },
    )
  })
  afterAll(() => t.close())

  const file = (name: string, body: Buffer | string, contentType?: string): Part => ({
    name: 'file',
    filename: name,
    contentType,
    body: Buffer.from(body),
  })
  // A fresh multipart boundary every call, as a client's retry has.
  const post = (user: TestUser, key: string | undefined, parts: Part[], query = '') => {
    const { boundary, stream } = multipartBody(parts)
    return t.app.inject({
      method: 'POST',
      url: `/upload${query}`,
      headers: {
        ...user.auth,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        ...(key === undefined ? {} : { 'idempotency-key': key }),
      },
      payload: stream,
    })
  }
  const rows = (user: TestUser) =>
    t.database.db
      .selectFrom('files')
      .select(['id', 'status', 'storage_key'])
      .where('owner_id', '=', user.id)
      .execute()
  const usedBytes = async (user: TestUser) =>
    (
      await t.database.db
        .selectFrom('users')
        .select('used_bytes')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow()
    ).used_bytes
  const blobCount = async () => {
    let n = 0
    for await (const _ of t.store.list()) n++
    return n
  }
  const keyRow = (user: TestUser, key: string) =>
    t.database.db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('user_id', '=', user.id)
      .where('key', '=', key)
      .executeTakeFirst()

  it('replays a retry: same status and file id, one row, one blob, quota counted once', async () => {
    const user = await signUp(t.app)
    const key = `"${randomUUID()}"`
    const body = Buffer.alloc(MiB, 'a')
    const first = await post(user, key, [file('report.pdf', body, 'application/pdf')])
    expect(first.statusCode).toBe(201)
    const blobs = await blobCount()

    const retry = await post(user, key, [file('report.pdf', body, 'application/pdf')])
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json()).toMatchObject({ ...first.json(), url: expect.any(String) })
    expect(await rows(user)).toHaveLength(1)
    expect(await blobCount()).toBe(blobs)
    expect(await usedBytes(user)).toBe(MiB)
    // The replayed link works, though the table never held it.
    const url = new URL(retry.json<{ url: string }>().url)
    const content = await t.app.inject({ url: url.pathname + url.search })
    expect(content.statusCode).toBe(200)
    expect(content.rawPayload.equals(body)).toBe(true)
    expect((await keyRow(user, key.slice(1, -1)))?.response_body).not.toContain('signature')
  })

  it('takes the key as a quoted string or a bare token alike', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    const first = await post(user, `"${key}"`, [file('a.txt', 'same')])
    const retry = await post(user, key, [file('a.txt', 'same')])
    expect(retry.statusCode).toBe(201)
    expect(retry.json().id).toBe(first.json().id)
  })

  it('replays a multi-file upload with fields, and tells its fields apart', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    const parts = (expiresIn: string) => [
      { name: 'expires_in', value: expiresIn },
      file('one.txt', 'one'),
      file('two.txt', 'two'),
    ]
    const first = await post(user, key, parts('3600'))
    expect(first.statusCode).toBe(201)
    const retry = await post(user, key, parts('3600'))
    expect(retry.json().items.map((f: { id: string }) => f.id)).toEqual(
      first.json().items.map((f: { id: string }) => f.id),
    )
    expect((await post(user, key, parts('7200'))).statusCode).toBe(422)
    expect(await rows(user)).toHaveLength(2)
  })

  it('answers 422 to the same key with other content, name, type or query, storing nothing', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    expect((await post(user, key, [file('a.txt', 'hello')])).statusCode).toBe(201)
    const blobs = await blobCount()
    for (const [parts, query] of [
      [[file('a.txt', 'hellO')], ''],
      [[file('b.txt', 'hello')], ''],
      [[file('a.txt', 'hello', 'text/plain')], ''],
      [[file('a.txt', 'hello')], '?expires_in=60'],
      [[file('a.txt', 'hello'), file('a.txt', 'hello')], ''],
    ] as const) {
      const res = await post(user, key, [...parts], query)
      expect(res.statusCode).toBe(422)
      expect(res.headers['content-type']).toContain('application/problem+json')
      expect(res.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' })
    }
    expect(await rows(user)).toHaveLength(1)
    expect(await blobCount()).toBe(blobs)
    expect(await usedBytes(user)).toBe(5)
  })

  it('answers 409 to every retry while the first is still storing, and runs it once', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    const held = gate()
    putFault = held.fault
    const first = post(user, key, [file('slow.bin', Buffer.alloc(MiB, 's'))])
    await held.reached
    const retries = await Promise.all(
      Array.from({ length: 10 }, () => post(user, key, [file('slow.bin', Buffer.alloc(MiB, 's'))])),
    )
    for (const res of retries) {
      expect(res.statusCode).toBe(409)
      expect(res.json()).toMatchObject({ status: 409, code: 'idempotency_key_in_use' })
    }
    putFault = undefined
    held.release()
    expect((await first).statusCode).toBe(201)
    expect(await rows(user)).toHaveLength(1)
    expect(await usedBytes(user)).toBe(MiB)
  })

  it('lets exactly one of 20 simultaneous requests with one key store the file', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    const results = await Promise.all(
      Array.from({ length: 20 }, () => post(user, key, [file('race.txt', 'race')])),
    )
    const created = results.filter((r) => r.statusCode === 201)
    const refused = results.filter((r) => r.statusCode !== 201)
    expect(created.length).toBeGreaterThanOrEqual(1)
    // Late ones replay the winner's answer; the others were refused while it ran.
    expect(new Set(created.map((r) => r.json().id)).size).toBe(1)
    for (const res of refused) expect(res.statusCode).toBe(409)
    expect(await rows(user)).toHaveLength(1)
    expect(await usedBytes(user)).toBe(4)
  })

  it('frees the key of a request the store failed, so the retry stores the file', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    putFault = fail()
    const failed = await post(user, key, [file('retry.txt', 'again')])
    putFault = undefined
    expect(failed.statusCode).toBe(503)
    expect(await keyRow(user, key)).toBeUndefined()
    const retry = await post(user, key, [file('retry.txt', 'again')])
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBeUndefined()
    // The failed attempt's row may still be on its way out (deleted); one file is visible.
    const visible = (await rows(user)).filter((r) => r.status === 'available')
    expect(visible.map((r) => r.id)).toEqual([retry.json().id])
  })

  it('frees the key of a 413 over quota, so the retry succeeds once there is room', async () => {
    const user = await signUp(t.app)
    const filler = await post(user, undefined, [file('filler.bin', Buffer.alloc(3 * MiB, 'f'))])
    const key = randomUUID()
    const big = () => post(user, key, [file('big.bin', Buffer.alloc(2 * MiB, 'b'))])
    expect((await big()).statusCode).toBe(413)
    await t.app.inject({ method: 'DELETE', url: `/files/${filler.json().id}`, headers: user.auth })
    const retry = await big()
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBeUndefined()
  })

  it('frees the key of a 400, so a corrected request with it is stored', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    expect((await post(user, key, [file('', 'x')])).statusCode).toBe(400)
    expect((await post(user, key, [file('named.txt', 'x')])).statusCode).toBe(201)
  })

  it('runs a request again once its key is past 24 hours, and the sweeper forgets it', async () => {
    const user = await signUp(t.app)
    const key = randomUUID()
    const first = await post(user, key, [file('old.txt', 'old')])
    const age = (ms: number) =>
      t.database.db
        .updateTable('idempotency_keys')
        .set({ created_at: new Date(Date.now() - ms) })
        .where('user_id', '=', user.id)
        .where('key', '=', key)
        .execute()
    await age(DAY_MS - 60_000)
    expect((await post(user, key, [file('old.txt', 'old')])).json().id).toBe(first.json().id)
    await age(DAY_MS + 1000)
    const again = await post(user, key, [file('old.txt', 'old')])
    expect(again.statusCode).toBe(201)
    expect(again.json().id).not.toBe(first.json().id)
    // Aged once more: the sweeper deletes what is past its lifetime.
    await age(DAY_MS + 1000)
    expect((await t.app.sweeper.sweep()).expiredIdempotencyKeys).toBeGreaterThanOrEqual(1)
    expect(await keyRow(user, key)).toBeUndefined()
  })

  it('keeps keys per user: the same key from another user is another request', async () => {
    const [alice, bob] = [await signUp(t.app), await signUp(t.app)]
    const key = randomUUID()
    const a = await post(alice, key, [file('mine.txt', 'alice')])
    const b = await post(bob, key, [file('mine.txt', 'bob')])
    expect([a.statusCode, b.statusCode]).toEqual([201, 201])
    expect(b.headers['idempotent-replayed']).toBeUndefined()
    expect(b.json().id).not.toBe(a.json().id)
  })

  it('treats the claim of a crashed request as free once its lease lapses', async () => {
    const user = await signUp(t.app)
    const [live, lapsed] = [randomUUID(), randomUUID()]
    // What a killed process leaves: a claim no one renews.
    const crashed = (key: string, leaseUntil: Date) =>
      t.database.db
        .insertInto('idempotency_keys')
        .values({
          user_id: user.id,
          key,
          claim: randomUUID(),
          status: 'processing',
          fingerprint: null,
          lease_until: leaseUntil,
          response_status: null,
          response_body: null,
          created_at: new Date(),
        })
        .execute()
    await crashed(live, new Date(Date.now() + 60_000))
    await crashed(lapsed, new Date(Date.now() - 1))
    expect((await post(user, live, [file('x.txt', 'x')])).statusCode).toBe(409)
    expect((await post(user, lapsed, [file('x.txt', 'x')])).statusCode).toBe(201)
  })

  it.each([
    ['two values', '"a", "b"'],
    ['an empty string', '""'],
    ['a space', 'a b'],
    ['a bad escape', '"a\\b"'],
    ['256 characters', `"${'k'.repeat(256)}"`],
  ])('refuses a key with %s with 400 problem+json, storing nothing', async (_, key) => {
    const user = await signUp(t.app)
    const res = await post(user, key, [file('a.txt', 'a')])
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 'invalid_idempotency_key' })
    expect(await rows(user)).toHaveLength(0)
  })
})
