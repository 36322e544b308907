import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IdempotencyRepository } from '../../src/idempotency/idempotency-repository.js'
import { IdempotencyService } from '../../src/idempotency/idempotency-service.js'
import { createLogger } from '../../src/infra/logger.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

describe('Idempotency-Key on POST /files/:id/shares', () => {
  let t: TestApp
  let user: TestUser
  let fileId: string
  beforeAll(async () => {
    t = await buildTestApp()
    user = await signUp(t.app)
    fileId = (await injectUpload(t.app, user, 'shared.txt', Buffer.from('share me'))).id
  })
  afterAll(() => t.close())

  const share = (key: string, payload: object, file = fileId, who = user) =>
    t.app.inject({
      method: 'POST',
      url: `/files/${file}/shares`,
      headers: { ...who.auth, 'idempotency-key': key },
      payload,
    })
  const shareRows = (file: string) =>
    t.database.db.selectFrom('shares').select('id').where('file_id', '=', file).execute()

  it('replays a retry: the same share id and link, one share row', async () => {
    const before = (await shareRows(fileId)).length
    const key = `"${randomUUID()}"`
    const payload = { expires_in: 3600, max_downloads: 3, password: 'hunter22' }
    const first = await share(key, payload)
    expect(first.statusCode).toBe(201)
    // The same body with its fields in another order is the same request.
    const retry = await share(key, { password: 'hunter22', max_downloads: 3, expires_in: 3600 })
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json()).toEqual(first.json())
    expect(await shareRows(fileId)).toHaveLength(before + 1)
    const token = first.json<{ url: string }>().url.split('/s/')[1]!
    const stored = await t.database.db
      .selectFrom('idempotency_keys')
      .select(['response_body', 'fingerprint'])
      .where('key', '=', key.slice(1, -1))
      .executeTakeFirstOrThrow()
    // Neither the link nor the password is kept where a database reader would find them.
    expect(stored.response_body).not.toContain(token)
    expect(JSON.stringify(stored)).not.toContain('hunter22')
  })

  it('answers 422 to the same key with another body or another file', async () => {
    const other = (await injectUpload(t.app, user, 'other.txt', Buffer.from('other'))).id
    const key = randomUUID()
    expect((await share(key, { max_downloads: 1 })).statusCode).toBe(201)
    const before = (await shareRows(fileId)).length
    for (const res of [
      await share(key, { max_downloads: 2 }),
      await share(key, {}),
      await share(key, { max_downloads: 1 }, other),
    ]) {
      expect(res.statusCode).toBe(422)
      expect(res.json()).toMatchObject({ status: 422, code: 'idempotency_key_reused' })
    }
    expect(await shareRows(fileId)).toHaveLength(before)
    expect(await shareRows(other)).toHaveLength(0)
  })

  it('answers 422 to a key first used for an upload', async () => {
    const key = randomUUID()
    const upload = await t.app.inject({
      method: 'POST',
      url: '/upload',
      headers: {
        ...user.auth,
        'idempotency-key': key,
        'content-type': 'multipart/form-data; boundary=x',
      },
      payload:
        '--x\r\nContent-Disposition: form-data; name="file"; filename="k.txt"\r\n\r\nk\r\n--x--\r\n',
    })
    expect(upload.statusCode).toBe(201)
    expect((await share(key, {})).statusCode).toBe(422)
  })

  it('frees the key of a 404 (the file may yet appear), and keeps keys per user', async () => {
    const key = randomUUID()
    const bob = await signUp(t.app)
    expect((await share(key, {}, fileId, bob)).statusCode).toBe(404)
    const bobs = (await injectUpload(t.app, bob, 'bob.txt', Buffer.from('bob'))).id
    expect((await share(key, {}, bobs, bob)).statusCode).toBe(201)
    // Alice's key of the same name is hers alone.
    const alice = await share(key, {})
    expect(alice.statusCode).toBe(201)
    expect(alice.headers['idempotent-replayed']).toBeUndefined()
  })

  it('documents the header once, as a shared parameter, and the new statuses', async () => {
    const doc = (await t.app.inject({ url: '/openapi.json' })).json()
    expect(doc.components.parameters.IdempotencyKey).toMatchObject({
      name: 'Idempotency-Key',
      in: 'header',
    })
    for (const [path, op] of [
      ['/upload', doc.paths['/upload'].post],
      ['/files/{id}/shares', doc.paths['/files/{id}/shares'].post],
    ]) {
      expect(op.parameters, path).toContainEqual({
        $ref: '#/components/parameters/IdempotencyKey',
      })
      expect(Object.keys(op.responses), path).toEqual(
        expect.arrayContaining(['201', '400', '409', '422']),
      )
    }
  })

  it('keeps the claim of a long request by renewing its lease, and frees it on release', async () => {
    const keys = new IdempotencyService({
      keys: new IdempotencyRepository(t.database.db),
      leaseMs: 200,
      secret: 'test',
      logger: createLogger('silent'),
    })
    const ref = { userId: user.id, key: randomUUID() }
    const first = await keys.begin(ref, 'fingerprint')
    expect(first.kind).toBe('claimed')
    // Five leases later the request still runs, and still holds the key.
    await sleep(1000)
    await expect(keys.begin(ref, 'fingerprint')).rejects.toMatchObject({ status: 409 })
    if (first.kind === 'claimed') await first.claim.release()
    const again = await keys.begin(ref, 'fingerprint')
    expect(again.kind).toBe('claimed')
    if (again.kind === 'claimed') await again.claim.release()
  })
})

describe('Idempotency-Key on the embedded database (PGlite)', () => {
  let t: TestApp
  beforeAll(async () => {
    t = await buildTestApp({ DATABASE_URL: '' })
  })
  afterAll(() => t.close())

  it('claims, replays, refuses a different body and sweeps aged keys', async () => {
    const user = await signUp(t.app)
    const fileId = (await injectUpload(t.app, user, 'f.txt', Buffer.from('f'))).id
    const key = randomUUID()
    const share = (payload: object) =>
      t.app.inject({
        method: 'POST',
        url: `/files/${fileId}/shares`,
        headers: { ...user.auth, 'idempotency-key': key },
        payload,
      })
    const results = await Promise.all([share({}), share({}), share({})])
    // PGlite serves one statement at a time: a later request may find the first done already.
    const ids = new Set(results.filter((r) => r.statusCode === 201).map((r) => r.json().id))
    expect(ids.size).toBe(1)
    for (const r of results) expect([201, 409]).toContain(r.statusCode)
    expect((await share({})).json().id).toBe([...ids][0])
    const rows = await t.database.db.selectFrom('shares').select('id').execute()
    expect(rows).toHaveLength(1)
    expect((await share({ max_downloads: 1 })).statusCode).toBe(422)
    await t.database.db
      .updateTable('idempotency_keys')
      .set({ created_at: new Date(Date.now() - 25 * 3600 * 1000) })
      .execute()
    expect((await t.app.sweeper.sweep()).expiredIdempotencyKeys).toBe(1)
  })
})
