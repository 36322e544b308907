import { get } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyRingValue } from '../../src/storage/key-ring.js'
import { generatedBytes, httpRequest, upload } from '../helpers/multipart.js'
import { type OwnServer, startOwnServer } from '../helpers/own-server.js'
import type { ServerProcess } from '../helpers/server-process.js'
import { OCTETS, TUS, tusMetadata } from '../helpers/tus.js'

const METRICS_TOKEN = 'upload-gc-test-token'
const MiB = 1024 * 1024
// Without the minor GCs, V8 started a full mark for every 64 MiB of buffers: 8–14 here.
const UPLOAD_BYTES = 512 * MiB
const MAX_FULL_GCS = 2

// The buffers a body is read into, and those a cipher seals it into, are freed by minor GCs
// as it streams; left to V8, they piled up outside the heap until each 64 MiB set off a full
// GC of the whole heap (~1 s of CPU per GiB uploaded, src/infra/fresh-buffers.ts).
describe.each([
  ['plain', {}],
  ['encrypted at rest', { ENCRYPTION_KEY: generateKeyRingValue() }],
])('a large upload, %s', (_, env: Record<string, string>) => {
  let own: OwnServer
  let server: ServerProcess
  let token: string

  beforeAll(async () => {
    own = await startOwnServer(METRICS_TOKEN, env)
    server = own.server
    const credentials = JSON.stringify({
      email: 'gc@example.test',
      password: 'correct horse battery',
    })
    const post = (path: string) =>
      httpRequest(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: credentials,
      })
    expect((await post('/register')).status).toBe(201)
    token = (await post('/login')).json<{ access_token: string }>().access_token
  })

  afterAll(() => own?.close())

  /** Full (mark-compact) GCs so far, from Satchel's own metrics. */
  async function fullGcs(): Promise<number> {
    const { body } = await httpRequest(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    })
    const count = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(String(body))
    return Number(count?.[1] ?? 0)
  }

  it('is stored by POST /upload without full garbage collections', async () => {
    const before = await fullGcs()
    const res = await upload(server.url, token, [
      { name: 'file', filename: 'big.bin', body: generatedBytes(UPLOAD_BYTES) },
    ])
    expect(res.status).toBe(201)
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)

  /** Sends the upload as tus PATCHes of `patchBytes`; resolves once the last is stored. */
  async function tusUpload(patchBytes: number) {
    const auth = { authorization: `Bearer ${token}` }
    const created = await httpRequest(`${server.url}/uploads`, {
      method: 'POST',
      headers: {
        ...auth,
        ...TUS,
        'upload-length': String(UPLOAD_BYTES),
        'upload-metadata': tusMetadata({ filename: 'big.bin' }),
      },
    })
    expect(created.status).toBe(201)
    const location = String(new URL(String(created.headers.location), server.url))
    for (let offset = 0; offset < UPLOAD_BYTES; offset += patchBytes) {
      const patched = await httpRequest(location, {
        method: 'PATCH',
        headers: {
          ...auth,
          ...TUS,
          ...OCTETS,
          'upload-offset': String(offset),
          'content-length': String(patchBytes),
        },
        body: generatedBytes(patchBytes),
      })
      expect(patched.status).toBe(204)
    }
  }

  it('is stored by a tus PATCH without full garbage collections', async () => {
    const before = await fullGcs()
    await tusUpload(UPLOAD_BYTES)
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)

  // Each PATCH's two blocks outlive its minor GCs: fresh ones per PATCH piled up in the old
  // generation until a full GC (4–6 here), so they are kept for the next (uploads/block-pool.ts).
  it('is stored by tus PATCHes of 32 MiB without full garbage collections', async () => {
    const before = await fullGcs()
    await tusUpload(32 * MiB)
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)

  // A download reads the file into a fresh buffer per piece, and decryption makes another:
  // left to V8, each 64 MiB of them set off a full GC, as an upload's did (8 here plain, 9
  // encrypted).
  it('is served by a download without full garbage collections', async () => {
    const stored = await upload(server.url, token, [
      { name: 'file', filename: 'served.bin', body: generatedBytes(UPLOAD_BYTES) },
    ])
    expect(stored.status).toBe(201)
    const before = await fullGcs()
    const served = await download(`${server.url}/files/${stored.json<{ id: string }>().id}/content`)
    expect(served).toEqual({ status: 200, bytes: UPLOAD_BYTES })
    expect(await fullGcs()).toBeLessThanOrEqual(before + MAX_FULL_GCS)
  }, 120_000)

  /** GETs `url` as the user, counting the body's bytes rather than keeping them. */
  function download(url: string): Promise<{ status: number; bytes: number }> {
    return new Promise((resolve, reject) => {
      get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        let bytes = 0
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }))
        res.on('error', reject)
      }).on('error', reject)
    })
  }
})
