import { randomBytes } from 'node:crypto'
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import type { S3TestServer } from '../helpers/s3-server.js'
import { startS3Server } from '../helpers/s3-server.js'
import { type Fault, fail, gate, withFaults } from '../helpers/stores.js'
import {
  createTusUpload,
  headTus,
  OCTETS,
  patchTus,
  sha256,
  TUS,
  tusMetadata,
} from '../helpers/tus.js'

const MiB = 1024 * 1024
const MAX_UPLOAD = 48 * MiB
// encrypted: the local driver with ENCRYPTION_KEY.
type Driver = 'memory' | 'local' | 's3' | 'encrypted'
const DRIVERS = (process.env.TUS_DRIVERS?.split(',') ?? [
  'memory',
  'local',
  's3',
  'encrypted',
]) as Driver[]

describe.each(DRIVERS)('tus protocol on the %s driver', (driver) => {
  let t: TestApp
  let s3: S3TestServer | undefined
  let user: TestUser
  // Faults the tests switch on: every appendBlock (syncAppend) passes through `appendFault`
  // (`syncFault`) when set.
  let appendFault: Fault | undefined
  let syncFault: Fault | undefined

  beforeAll(async () => {
    s3 = driver === 's3' ? await startS3Server() : undefined
    t = await buildTestApp(
      {
        ...(s3?.env ?? {}),
        ...(driver === 'encrypted'
          ? { ENCRYPTION_KEY: `k1:${randomBytes(32).toString('base64')}` }
          : {}),
        MAX_UPLOAD_BYTES: String(MAX_UPLOAD),
      },
      {
        store: (store: BlobStore) =>
          withFaults(driver === 'memory' ? new MemoryBlobStore() : store, {
            appendBlock: (method, args) => appendFault?.(method, args) ?? Promise.resolve(),
            syncAppend: (method, args) => syncFault?.(method, args) ?? Promise.resolve(),
          }),
      },
    )
    user = await signUp(t.app)
  })
  afterAll(async () => {
    await t?.close()
    await s3?.close()
  })

  const db = () => t.database.db
  const offsetOf = async (id: string) =>
    Number((await headTus(t.app, user, id)).headers['upload-offset'])
  const usedBytes = async (userId: string) =>
    (
      await db()
        .selectFrom('users')
        .select('used_bytes')
        .where('id', '=', userId)
        .executeTakeFirstOrThrow()
    ).used_bytes
  const storedKeys = async () => {
    const keys: string[] = []
    for await (const blob of t.store.list()) keys.push(blob.key)
    return keys
  }
  /** The keys of appends (S3: multipart uploads) still in progress. */
  const partialKeys = async () => {
    const keys: (string | undefined)[] = []
    for await (const partial of t.store.listPartials()) keys.push(partial.key)
    return keys
  }
  const keyOf = async (id: string) =>
    await db()
      .selectFrom('tus_uploads')
      .innerJoin('files', 'files.id', 'tus_uploads.file_id')
      .select(['storage_key', 'carry_key'])
      .where('tus_uploads.id', '=', id)
      .executeTakeFirstOrThrow()
  const download = (id: string) => t.app.inject({ url: `/files/${id}/content`, headers: user.auth })
  /** The files whose bytes are `data`. */
  const filesHolding = (data: Buffer) =>
    db().selectFrom('files').selectAll().where('sha256', '=', sha256(data)).execute()

  it('advertises the version, extensions, checksum algorithms and the largest upload', async () => {
    const res = await t.app.inject({ method: 'OPTIONS', url: '/uploads' })
    expect(res.statusCode).toBe(204)
    expect(res.headers['tus-version']).toBe('1.0.0')
    expect(res.headers['tus-resumable']).toBe('1.0.0')
    expect(String(res.headers['tus-extension']).split(',')).toEqual(
      expect.arrayContaining([
        'creation',
        'creation-with-upload',
        'termination',
        'expiration',
        'checksum',
        'concatenation',
      ]),
    )
    expect(res.headers['tus-max-size']).toBe(String(MAX_UPLOAD))
    expect(res.headers['tus-checksum-algorithm']).toContain('sha256')
  })

  it('refuses another protocol version with 412', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/uploads',
      headers: { ...user.auth, 'tus-resumable': '0.2.2', 'upload-length': '1' },
    })
    expect(res.statusCode).toBe(412)
    expect(res.headers['tus-version']).toBe('1.0.0')
    expect(res.json().code).toBe('unsupported_tus_version')
  })

  it('takes a file in PATCHes that cross block boundaries and makes it an ordinary file', async () => {
    const data = randomBytes(20 * MiB + 123)
    const id = await createTusUpload(t.app, user, { 'upload-length': String(data.length) })
    const head = await headTus(t.app, user, id)
    expect(head.statusCode).toBe(200)
    expect(head.headers['upload-offset']).toBe('0')
    expect(head.headers['upload-length']).toBe(String(data.length))
    expect(head.headers['cache-control']).toBe('no-store')
    expect(Date.parse(String(head.headers['upload-expires']))).toBeGreaterThan(Date.now())
    // 3 MiB (carry only), then to 10 MiB (one block, a carry), then the rest (final block).
    const cuts = [0, 3 * MiB, 10 * MiB, data.length]
    for (let i = 0; i < 3; i++) {
      const res = await patchTus(t.app, user, id, cuts[i]!, data.subarray(cuts[i], cuts[i + 1]))
      expect(res.statusCode, res.body).toBe(204)
      expect(res.headers['upload-offset']).toBe(String(cuts[i + 1]))
      expect(await offsetOf(id)).toBe(cuts[i + 1])
    }
    const list = await t.app.inject({ url: '/files', headers: user.auth })
    const file = list.json().items.find((f: { name: string }) => f.name === 'a.bin')
    expect(file).toMatchObject({ size: data.length, sha256: sha256(data) })
    expect((await download(file.id)).rawPayload.equals(data)).toBe(true)
    // Nothing but the file's blob is left of it: carries are gone, the append is complete.
    const row = await db()
      .selectFrom('files')
      .select('storage_key')
      .where('id', '=', file.id)
      .executeTakeFirstOrThrow()
    expect(await storedKeys()).toEqual([row.storage_key])
    expect(await partialKeys()).not.toContain(row.storage_key)
    await t.app.inject({ method: 'DELETE', url: `/files/${file.id}`, headers: user.auth })
  })

  it('leaves no carry between PATCHes of one size that whole blocks can fill', async () => {
    // 10 MiB is not a whole number of the usual 8 MiB blocks, but is of 5 MiB ones.
    const step = 10 * MiB
    const data = randomBytes(3 * step + 5 * MiB + 7)
    const id = await createTusUpload(t.app, user, { 'upload-length': String(data.length) })
    for (let at = 0; at < data.length; at += step) {
      const res = await patchTus(t.app, user, id, at, data.subarray(at, at + step))
      expect(res.statusCode, res.body).toBe(204)
      if (at + step < data.length) expect((await keyOf(id)).carry_key).toBeNull()
    }
    const [file] = await filesHolding(data)
    expect(file?.size).toBe(data.length)
    expect((await download(file!.id)).rawPayload.equals(data)).toBe(true)
    await t.app.inject({ method: 'DELETE', url: `/files/${file!.id}`, headers: user.auth })
  })

  it('answers an offset that is not the upload’s with 409 and keeps the upload as it was', async () => {
    const id = await createTusUpload(t.app, user, { 'upload-length': String(2 * MiB) })
    expect((await patchTus(t.app, user, id, 0, randomBytes(MiB))).statusCode).toBe(204)
    const res = await patchTus(t.app, user, id, 0, randomBytes(MiB))
    expect(res.statusCode).toBe(409)
    expect(res.json().code).toBe('upload_offset_mismatch')
    expect(await offsetOf(id)).toBe(MiB)
  })

  it('never reports an offset whose bytes did not sync; the client resumes from the last one that did', async () => {
    const data = randomBytes(20 * MiB + 5)
    const id = await createTusUpload(t.app, user, { 'upload-length': String(data.length) })
    expect((await patchTus(t.app, user, id, 0, data.subarray(0, 3 * MiB))).statusCode).toBe(204)
    syncFault = fail()
    const failed = await patchTus(t.app, user, id, 3 * MiB, data.subarray(3 * MiB, 19 * MiB))
    syncFault = undefined
    expect(failed.statusCode).toBe(503)
    expect(await offsetOf(id)).toBe(3 * MiB)
    const resumed = await patchTus(t.app, user, id, 3 * MiB, data.subarray(3 * MiB))
    expect(resumed.statusCode).toBe(204)
    const [file] = await filesHolding(data)
    expect(file?.size).toBe(data.length)
    await t.app.inject({ method: 'DELETE', url: `/files/${file!.id}`, headers: user.auth })
  })

  it('lets exactly one of two concurrent PATCHes write; the other gets 423 and no bytes interleave', async () => {
    const data = randomBytes(10 * MiB)
    const id = await createTusUpload(t.app, user, { 'upload-length': String(data.length) })
    const held = gate()
    appendFault = held.fault
    const first = patchTus(t.app, user, id, 0, data)
    await held.reached
    appendFault = undefined
    const second = await patchTus(t.app, user, id, 0, randomBytes(10 * MiB))
    expect(second.statusCode).toBe(423)
    expect(second.json().code).toBe('upload_locked')
    held.release()
    expect((await first).statusCode).toBe(204)
    const files = await filesHolding(data)
    expect(files).toHaveLength(1)
    await t.app.inject({ method: 'DELETE', url: `/files/${files[0]!.id}`, headers: user.auth })
  })

  it('drives 20 concurrent PATCHes at one offset: one 204, every other 423 or 409', async () => {
    const id = await createTusUpload(t.app, user, { 'upload-length': String(40 * MiB) })
    const bodies = Array.from({ length: 20 }, () => randomBytes(256 * 1024))
    const results = await Promise.all(bodies.map((b) => patchTus(t.app, user, id, 0, b)))
    const codes = results.map((r) => r.statusCode)
    expect(codes.filter((c) => c === 204)).toHaveLength(1)
    expect(codes.every((c) => c === 204 || c === 423 || c === 409)).toBe(true)
    expect(await offsetOf(id)).toBe(256 * 1024)
    await t.app.inject({
      method: 'DELETE',
      url: `/uploads/${id}`,
      headers: { ...user.auth, ...TUS },
    })
  })

  it('discards a body whose checksum does not match with 460 and keeps the offset', async () => {
    const data = randomBytes(9 * MiB)
    const id = await createTusUpload(t.app, user, { 'upload-length': String(data.length) })
    const checksum = (b: Buffer) => `sha256 ${createDigest(b)}`
    expect(
      (
        await patchTus(t.app, user, id, 0, data.subarray(0, MiB), {
          'upload-checksum': checksum(data.subarray(0, MiB)),
        })
      ).statusCode,
    ).toBe(204)
    const rest = data.subarray(MiB)
    const bad = await patchTus(t.app, user, id, MiB, rest, {
      'upload-checksum': checksum(randomBytes(8)),
    })
    expect(bad.statusCode).toBe(460)
    expect(bad.json().code).toBe('checksum_mismatch')
    expect(await offsetOf(id)).toBe(MiB)
    const good = await patchTus(t.app, user, id, MiB, rest, { 'upload-checksum': checksum(rest) })
    expect(good.statusCode).toBe(204)
    const [file] = await filesHolding(data)
    expect(file?.status).toBe('available')
  })

  it('terminates an upload: 204, then 404, and its bytes are gone', async () => {
    const id = await createTusUpload(t.app, user, { 'upload-length': String(30 * MiB) })
    expect((await patchTus(t.app, user, id, 0, randomBytes(9 * MiB))).statusCode).toBe(204)
    const { storage_key, carry_key } = await keyOf(id)
    expect(await partialKeys()).toContain(storage_key)
    expect(await storedKeys()).toContain(carry_key)
    const res = await t.app.inject({
      method: 'DELETE',
      url: `/uploads/${id}`,
      headers: { ...user.auth, ...TUS },
    })
    expect(res.statusCode).toBe(204)
    expect((await headTus(t.app, user, id)).statusCode).toBe(404)
    expect((await patchTus(t.app, user, id, 9 * MiB, randomBytes(10))).statusCode).toBe(404)
    expect(await storedKeys()).not.toContain(carry_key)
    expect(await partialKeys()).not.toContain(storage_key)
  })

  it('expires an abandoned upload: the sweeper removes its rows, blocks, carry and quota', async () => {
    const other = await signUp(t.app)
    const id = await createTusUpload(t.app, other, { 'upload-length': String(30 * MiB) })
    expect((await patchTus(t.app, other, id, 0, randomBytes(9 * MiB))).statusCode).toBe(204)
    expect(await usedBytes(other.id)).toBe(30 * MiB)
    const { storage_key, carry_key } = await keyOf(id)
    expect(await partialKeys()).toContain(storage_key)
    await db()
      .updateTable('tus_uploads')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', id)
      .execute()
    expect((await headTus(t.app, other, id)).statusCode).toBe(410)
    const counts = await t.app.sweeper.sweep()
    expect(counts.expiredTusUploads).toBe(1)
    expect(
      await db().selectFrom('tus_uploads').select('id').where('id', '=', id).execute(),
    ).toEqual([])
    expect(
      await db().selectFrom('files').select('id').where('owner_id', '=', other.id).execute(),
    ).toEqual([])
    expect(await partialKeys()).not.toContain(storage_key)
    expect(await storedKeys()).not.toContain(carry_key)
    if (s3) expect(await multipartKeys(s3)).not.toContain(storage_key)
    expect(await usedBytes(other.id)).toBe(0)
    expect((await headTus(t.app, other, id)).statusCode).toBe(404)
  })

  it('answers 404 to another user’s upload URL, whatever the method', async () => {
    const id = await createTusUpload(t.app, user, { 'upload-length': '10' })
    const stranger = await signUp(t.app)
    expect((await headTus(t.app, stranger, id)).statusCode).toBe(404)
    expect((await patchTus(t.app, stranger, id, 0, Buffer.from('x'))).statusCode).toBe(404)
    const del = await t.app.inject({
      method: 'DELETE',
      url: `/uploads/${id}`,
      headers: { ...stranger.auth, ...TUS },
    })
    expect(del.statusCode).toBe(404)
    expect(await offsetOf(id)).toBe(0)
  })

  it('refuses an Upload-Length over MAX_UPLOAD_BYTES with 413, keeping nothing', async () => {
    const before = await db().selectFrom('tus_uploads').select('id').execute()
    const res = await t.app.inject({
      method: 'POST',
      url: '/uploads',
      headers: {
        ...user.auth,
        ...TUS,
        'upload-length': String(MAX_UPLOAD + 1),
        'upload-metadata': tusMetadata({ filename: 'big' }),
      },
    })
    expect(res.statusCode).toBe(413)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(await db().selectFrom('tus_uploads').select('id').execute()).toHaveLength(before.length)
  })

  it('counts Upload-Length against the quota at creation (413 quota_exceeded), deferred lengths as bytes arrive', async () => {
    const capped = await signUp(t.app)
    await db()
      .updateTable('users')
      .set({ quota_bytes: 12 * MiB })
      .where('id', '=', capped.id)
      .execute()
    const create = (headers: Record<string, string>) =>
      t.app.inject({
        method: 'POST',
        url: '/uploads',
        headers: {
          ...capped.auth,
          ...TUS,
          'upload-metadata': tusMetadata({ filename: 'q' }),
          ...headers,
        },
      })
    const over = await create({ 'upload-length': String(13 * MiB) })
    expect(over.statusCode).toBe(413)
    expect(over.json().code).toBe('quota_exceeded')
    const fits = await create({ 'upload-length': String(8 * MiB) })
    expect(fits.statusCode).toBe(201)
    expect(await usedBytes(capped.id)).toBe(8 * MiB)
    const deferred = await create({ 'upload-defer-length': '1' })
    const id = String(deferred.headers.location).split('/').pop()!
    const res = await patchTus(t.app, capped, id, 0, randomBytes(5 * MiB))
    expect(res.statusCode).toBe(413)
    expect(res.json().code).toBe('quota_exceeded')
    expect((await headTus(t.app, capped, id)).statusCode).toBe(404)
    expect(await usedBytes(capped.id)).toBe(8 * MiB)
  })

  it('takes a deferred length when the client knows it, and the first bytes with the POST', async () => {
    const data = randomBytes(3 * MiB)
    const res = await t.app.inject({
      method: 'POST',
      url: '/uploads',
      headers: {
        ...user.auth,
        ...TUS,
        ...OCTETS,
        'upload-defer-length': '1',
        'upload-metadata': tusMetadata({ filename: 'later.bin' }),
      },
      payload: data.subarray(0, MiB),
    })
    expect(res.statusCode).toBe(201)
    expect(res.headers['upload-offset']).toBe(String(MiB))
    const id = String(res.headers.location).split('/').pop()!
    expect((await headTus(t.app, user, id)).headers['upload-defer-length']).toBe('1')
    const last = await patchTus(t.app, user, id, MiB, data.subarray(MiB), {
      'upload-length': String(data.length),
    })
    expect(last.statusCode).toBe(204)
    const [file] = await filesHolding(data)
    expect(file).toMatchObject({ status: 'available', name: 'later.bin', size: data.length })
  })

  it('concatenates completed partials into one file; the partials are never files and then gone', async () => {
    const owner = await signUp(t.app)
    const parts = [randomBytes(6 * MiB), randomBytes(MiB + 7)]
    const ids: string[] = []
    for (const part of parts) {
      const id = await createTusUpload(t.app, owner, {
        'upload-length': String(part.length),
        'upload-concat': 'partial',
        'upload-metadata': '',
      })
      expect((await patchTus(t.app, owner, id, 0, part)).statusCode).toBe(204)
      ids.push(id)
    }
    const listed = await t.app.inject({ url: '/files', headers: owner.auth })
    expect(listed.json().items).toEqual([])
    const final = await t.app.inject({
      method: 'POST',
      url: '/uploads',
      headers: {
        ...owner.auth,
        ...TUS,
        'upload-concat': `final;/uploads/${ids[0]} http://host/uploads/${ids[1]}`,
        'upload-metadata': tusMetadata({ filename: 'whole.bin' }),
      },
    })
    expect(final.statusCode, final.body).toBe(201)
    const whole = Buffer.concat(parts)
    const [file] = (await t.app.inject({ url: '/files', headers: owner.auth })).json().items
    expect(file).toMatchObject({ name: 'whole.bin', size: whole.length, sha256: sha256(whole) })
    expect(
      (
        await t.app.inject({ url: `/files/${file.id}/content`, headers: owner.auth })
      ).rawPayload.equals(whole),
    ).toBe(true)
    for (const id of ids) expect((await headTus(t.app, owner, id)).statusCode).toBe(404)
    expect(await usedBytes(owner.id)).toBe(whole.length)
    const finalHead = await headTus(t.app, owner, String(final.headers.location).split('/').pop()!)
    expect(finalHead.headers['upload-offset']).toBe(String(whole.length))
  })
})

/** What the bucket itself says is in progress (ListMultipartUploads), not the store's view. */
async function multipartKeys(s3: S3TestServer): Promise<string[]> {
  const listed = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }))
  return (listed.Uploads ?? []).map((u) => u.Key ?? '')
}

function createDigest(data: Buffer): string {
  return Buffer.from(sha256(data), 'hex').toString('base64')
}
