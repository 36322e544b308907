import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newBlobKey } from '../../src/storage/blob-key.js'
import type { BlobStore, PartialWrite } from '../../src/storage/blob-store.js'
import { BlobNotFoundError } from '../../src/storage/storage-errors.js'
import { type AppendSubject, appendableContract } from './appendable-blob-store.contract.js'

const MiB = 1024 * 1024

export interface ContractSubject {
  store: BlobStore
  teardown(): Promise<void>
  /** What head and list report for a blob of `size` bytes, if not `size` (encrypted stores). */
  storedSize?: (size: number) => number
  reopen?: AppendSubject['reopen']
  pendingWrites?: AppendSubject['pendingWrites']
}

/**
 * The behaviour every BlobStore adapter must have; each adapter's test file runs it. Reads
 * pass back the envelope `put` returned, as a caller must; plain stores return none.
 */
export function blobStoreContract(name: string, setup: () => Promise<ContractSubject>) {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore
    let teardown: (() => Promise<void>) | undefined
    let storedSize = (size: number) => size
    let subject: ContractSubject

    beforeAll(async () => {
      subject = await setup()
      ;({ store, teardown } = subject)
      storedSize = subject.storedSize ?? storedSize
    })
    afterAll(async () => {
      await teardown?.()
    })

    async function putChunks(chunks: Buffer[]) {
      const key = newBlobKey()
      const result = await store.put(key, Readable.from(chunks))
      return { key, result, bytes: Buffer.concat(chunks) }
    }

    async function listedKeys(): Promise<Set<string>> {
      const keys = new Set<string>()
      for await (const info of store.list()) keys.add(info.key)
      return keys
    }

    async function partials(): Promise<PartialWrite[]> {
      const found: PartialWrite[] = []
      for await (const partial of store.listPartials()) found.push(partial)
      return found
    }

    async function expectNothingAt(key: string) {
      expect(await store.head(key)).toBeUndefined()
      await expect(store.get(key)).rejects.toBeInstanceOf(BlobNotFoundError)
      expect(await listedKeys()).not.toContain(key)
      expect(await partials()).toEqual([])
    }

    it('round-trips a multi-chunk body of several MiB with its size and SHA-256', async () => {
      // Over 5 MiB, so S3 stores it as a multipart upload of more than one part.
      const sizes = [2 * MiB, 1, 3 * MiB + 17, MiB]
      const { key, result, bytes } = await putChunks(sizes.map((size) => randomBytes(size)))

      expect(result).toMatchObject({ size: bytes.length, sha256: sha256(bytes) })
      const stored = await readAll(store.get(key, undefined, result.envelope))
      expect(stored.length).toBe(bytes.length)
      expect(sha256(stored)).toBe(sha256(bytes))
    })

    it('stores a body without digesting it when told not to hash', async () => {
      const key = newBlobKey()
      const bytes = randomBytes(2 * MiB + 5)

      const result = await store.put(key, Readable.from([bytes]), { hash: false })

      expect(result.size).toBe(bytes.length)
      expect(result).not.toHaveProperty('sha256')
      const stored = await readAll(store.get(key, undefined, result.envelope))
      expect(stored.equals(bytes)).toBe(true)
      await store.delete(key)
    })

    it('round-trips an empty body', async () => {
      const { key, result } = await putChunks([])

      expect(result).toMatchObject({ size: 0, sha256: sha256(Buffer.alloc(0)) })
      expect(await readAll(store.get(key, undefined, result.envelope))).toEqual(Buffer.alloc(0))
      expect(await store.head(key)).toMatchObject({ key, size: storedSize(0) })
    })

    it('serves inclusive byte ranges', async () => {
      const { key, result, bytes } = await putChunks([randomBytes(1000)])

      for (const [start, end] of [
        [0, 0],
        [10, 99],
        [999, 999],
        [0, 999],
      ] as const) {
        const part = await readAll(store.get(key, { start, end }, result.envelope))
        expect(part).toEqual(bytes.subarray(start, end + 1))
      }
    })

    it('rejects a malformed range before reading', async () => {
      const { key, result } = await putChunks([randomBytes(10)])

      for (const range of [
        { start: 5, end: 4 },
        { start: -1, end: 4 },
      ]) {
        await expect(store.get(key, range, result.envelope)).rejects.toBeInstanceOf(RangeError)
      }
    })

    it('heads a stored blob, and answers undefined for an absent one', async () => {
      const { key } = await putChunks([randomBytes(123)])

      expect(await store.head(key)).toEqual({
        key,
        size: storedSize(123),
        lastModified: expect.any(Date),
      })
      expect(await store.head(newBlobKey())).toBeUndefined()
    })

    it('rejects get of an absent key with BlobNotFoundError', async () => {
      await expect(store.get(newBlobKey())).rejects.toBeInstanceOf(BlobNotFoundError)
    })

    it('deletes a blob, after which it is gone', async () => {
      const { key } = await putChunks([randomBytes(10)])

      await store.delete(key)

      await expectNothingAt(key)
    })

    it('deletes an absent key without complaint', async () => {
      await expect(store.delete(newBlobKey())).resolves.toBeUndefined()
    })

    it('lists stored blobs with their sizes, and not deleted ones', async () => {
      const kept = await putChunks([randomBytes(7)])
      const deleted = await putChunks([randomBytes(8)])
      await store.delete(deleted.key)

      const listed = new Map<string, number>()
      for await (const info of store.list()) listed.set(info.key, info.size)
      expect(listed.get(kept.key)).toBe(storedSize(7))
      expect(listed.has(deleted.key)).toBe(false)
    })

    it('lists only keys of its own shape, in key order, and resumes after a given key', async () => {
      const own = await Promise.all(Array.from({ length: 5 }, () => putChunks([randomBytes(3)])))
      // Keys put() accepts but newBlobKey() never makes: outside the prefix, or inside it
      // with another shape. A scan must never report (and so never delete) them.
      const uuid = randomUUID()
      const foreign = [
        'other/thing',
        'blobs/notes',
        'blobs/ab/not-a-uuid',
        `blobs/zz/${uuid}`,
        `blobs/${uuid.slice(0, 2)}/${uuid}/extra`,
      ]
      for (const key of foreign) await store.put(key, Readable.from([Buffer.from('foreign')]))

      const listed = [...(await listedKeys())]
      expect(listed).toEqual(listed.toSorted())
      expect(listed).toEqual(expect.arrayContaining(own.map((blob) => blob.key)))
      for (const key of foreign) expect(listed).not.toContain(key)
      const middle = listed[Math.floor(listed.length / 2)]!
      const rest: string[] = []
      for await (const info of store.list({ after: middle })) rest.push(info.key)
      expect(rest).toEqual(listed.filter((key) => key > middle))

      for (const key of [...foreign, ...own.map((blob) => blob.key)]) await store.delete(key)
    })

    it('reports a write in progress as a partial; once removed, the write fails and leaves nothing', async () => {
      const key = newBlobKey()
      const body = new Readable({ read() {} })
      // Past one S3 part, so a multipart upload is under way.
      body.push(randomBytes(6 * MiB))
      const put = store.put(key, body)
      put.catch(() => undefined)

      // The memory store keeps a write in memory until it ends: there is nothing to leave.
      if (store.driver === 'memory') {
        await sleep(50)
        expect(await partials()).toEqual([])
        body.push(null)
        await put
        await store.delete(key)
        return
      }
      let found: PartialWrite[] = []
      for (let waited = 0; found.length === 0 && waited < 10_000; waited += 20) {
        await sleep(20)
        found = await partials()
      }
      expect(found).toHaveLength(1)
      const partial = found[0]!
      expect(partial.since.getTime()).toBeGreaterThan(Date.now() - 60_000)
      if (partial.key !== undefined) expect(partial.key).toBe(key)

      await store.removePartial(partial)
      await store.removePartial(partial)
      expect(await partials()).toEqual([])
      body.push(randomBytes(MiB))
      body.push(null)

      await expect(put).rejects.toThrow()
      await expectNothingAt(key)
    })

    it('rejects with the body error and keeps nothing when the body fails midway', async () => {
      const key = newBlobKey()
      const failure = new Error('client went away')
      // Past one S3 part before failing, so a multipart upload is under way.
      const body = Readable.from(
        (async function* () {
          yield randomBytes(6 * MiB)
          await sleep(50)
          throw failure
        })(),
      )

      await expect(store.put(key, body)).rejects.toBe(failure)
      await expectNothingAt(key)
    })

    it('rejects and keeps nothing when the signal is already aborted', async () => {
      const key = newBlobKey()

      const put = store.put(key, Readable.from([randomBytes(10)]), {
        signal: AbortSignal.abort(),
      })

      await expect(put).rejects.toMatchObject({ name: 'AbortError' })
      await expectNothingAt(key)
    })

    it('rejects and keeps nothing when the signal aborts midway', async () => {
      const key = newBlobKey()
      const controller = new AbortController()
      // Sends a first chunk, then stalls as a slow client would.
      const body = new Readable({ read() {} })
      body.push(randomBytes(1024))

      const put = store.put(key, body, { signal: controller.signal })
      await sleep(50)
      controller.abort()

      await expect(put).rejects.toMatchObject({ name: 'AbortError' })
      await expectNothingAt(key)
    })

    it('refuses keys it would never generate', async () => {
      for (const key of ['../escape', '/etc/passwd', 'blobs/../../x', 'Blobs/X']) {
        await expect(store.put(key, Readable.from([Buffer.from('x')]))).rejects.toThrow(
          /Invalid blob key/,
        )
        await expect(store.head(key)).rejects.toThrow(/Invalid blob key/)
      }
    })

    it('answers a ping', async () => {
      await expect(store.ping()).resolves.toBeUndefined()
    })

    appendableContract(() => ({ ...subject, storedSize }))
  })
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

async function readAll(stream: Promise<Readable>): Promise<Buffer> {
  return Buffer.concat(await (await stream).toArray())
}
