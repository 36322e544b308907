import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { multipartBody } from '../helpers/multipart.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { type Fault, gate, withFaults } from '../helpers/stores.js'

/** Two instances on one database and one S3 store: a key is the same key on either. */
describe('Idempotency-Key across two instances', () => {
  let s3: S3TestServer
  let a: TestApp
  let b: TestApp
  let user: TestUser
  let putFault: Fault | undefined
  beforeAll(async () => {
    s3 = await startS3Server()
    a = await buildTestApp(s3.env, {
      store: (store) =>
        withFaults(store, { put: (m, args) => putFault?.(m, args) ?? Promise.resolve() }),
    })
    b = await buildTestApp({ ...s3.env, DATABASE_URL: a.config.databaseUrl! })
    user = await signUp(a.app)
  })
  afterAll(async () => {
    await b.close()
    await a.close()
    await s3.close()
  })

  const post = (t: TestApp, key: string, content: string) => {
    const { boundary, stream } = multipartBody([
      { name: 'file', filename: 'both.txt', body: Buffer.from(content) },
    ])
    return t.app.inject({
      method: 'POST',
      url: '/upload',
      headers: {
        ...user.auth,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'idempotency-key': key,
      },
      payload: stream,
    })
  }
  const files = () =>
    a.database.db.selectFrom('files').select('id').where('owner_id', '=', user.id).execute()

  it('replays on one instance what the other stored, and refuses a different payload', async () => {
    const key = randomUUID()
    const first = await post(a, key, 'one copy')
    expect(first.statusCode).toBe(201)
    const retry = await post(b, key, 'one copy')
    expect(retry.statusCode).toBe(201)
    expect(retry.headers['idempotent-replayed']).toBe('true')
    expect(retry.json().id).toBe(first.json().id)
    expect((await post(b, key, 'another')).statusCode).toBe(422)
    expect(await files()).toHaveLength(1)
  })

  it('answers 409 on one instance while the other is still storing', async () => {
    const key = randomUUID()
    const before = (await files()).length
    const held = gate()
    putFault = held.fault
    const first = post(a, key, 'slow')
    await held.reached
    expect((await post(b, key, 'slow')).statusCode).toBe(409)
    putFault = undefined
    held.release()
    expect((await first).statusCode).toBe(201)
    const retry = await post(b, key, 'slow')
    expect(retry.json().id).toBe((await first).json().id)
    expect(await files()).toHaveLength(before + 1)
  })
})
