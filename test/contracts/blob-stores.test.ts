import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { AbortMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import { createBlobStore } from '../../src/storage/create-blob-store.js'
import { LocalBlobStore } from '../../src/storage/local-blob-store.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { createS3Client, S3BlobStore } from '../../src/storage/s3-blob-store.js'
import { InvalidAppendError, StorageUnavailableError } from '../../src/storage/storage-errors.js'
import { startFlakyProxy } from '../helpers/flaky-proxy.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { blobStoreContract } from './blob-store.contract.js'

const MiB = 1024 * 1024

blobStoreContract('local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'satchel-blobs-'))
  return {
    store: new LocalBlobStore({ root }),
    teardown: () => rm(root, { recursive: true, force: true }),
    reopen: () => new LocalBlobStore({ root }),
    pendingWrites: async () => (await readdir(join(root, '.tmp')).catch(() => [])).length,
  }
})

blobStoreContract('memory', async () => ({
  store: new MemoryBlobStore(),
  teardown: async () => {},
}))

blobStoreContract('s3 (s3rver)', async () => {
  const s3 = await startS3Server()
  return {
    store: s3Store(s3),
    teardown: () => s3.close(),
    reopen: () => s3Store(s3),
    pendingWrites: () => s3.pendingMultipartUploads(),
  }
})

function s3Store(s3: Pick<S3TestServer, 'client' | 's3Config'>) {
  return new S3BlobStore({
    client: s3.client,
    bucket: s3.s3Config.bucket,
    partSizeBytes: s3.s3Config.partSizeBytes,
    queueSize: s3.s3Config.queueSize,
  })
}

/** Sends `before`, waits for `beforeFailing`, then errors. */
function failingBody(before: Buffer, beforeFailing = async () => {}): Readable {
  return Readable.from(
    (async function* () {
      yield before
      await beforeFailing()
      throw new Error('client went away')
    })(),
  )
}

/** `pieces`, one every `ms`. */
function trickle(pieces: Buffer[], ms: number): Readable {
  return Readable.from(
    (async function* () {
      for (const piece of pieces) {
        await sleep(ms)
        yield piece
      }
    })(),
  )
}

describe('LocalBlobStore', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'satchel-blobs-'))
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  it('leaves no temporary file behind after a failed put', async () => {
    const store = new LocalBlobStore({ root })

    await expect(store.put(newBlobKey(), failingBody(randomBytes(1024)))).rejects.toThrow()

    expect(await readdir(join(root, '.tmp'))).toEqual([])
  })

  it('leaves other uploads alone when a put fails with a write in flight', async () => {
    const store = new LocalBlobStore({ root })
    // One write of this size is still running when the body fails right after it.
    const large = randomBytes(64 * MiB)
    const failures: string[] = []
    const upload = async () => {
      const key = newBlobKey()
      const pieces = Array.from({ length: 10 }, () => randomBytes(1024))
      try {
        await store.put(key, trickle(pieces, 20))
        const stored = Buffer.concat(await (await store.get(key)).toArray())
        if (!stored.equals(Buffer.concat(pieces))) failures.push('stored bytes differ')
      } catch (error) {
        failures.push((error as NodeJS.ErrnoException).code ?? String(error))
      }
    }
    for (let round = 0; round < 3; round++) {
      let settled = false
      const markSettled = () => {
        settled = true
      }
      const failed = store.put(newBlobKey(), failingBody(large))
      failed.then(markSettled, markSettled)
      // Other clients keep starting uploads, so one of them opens its file while the failed
      // put is cleaning up, and gets the descriptor number that put has just given back.
      const others: Promise<void>[] = []
      while (!settled) {
        others.push(upload())
        await sleep(5)
      }
      await expect(failed).rejects.toThrow('client went away')
      await Promise.all(others)
    }
    expect(failures).toEqual([])
  })

  it('reports each temporary file with the time of its last write, and removes the one asked', async () => {
    const store = new LocalBlobStore({ root })
    const tmp = join(root, '.tmp')
    await mkdir(tmp, { recursive: true })
    const old = new Date(Date.now() - 3600_000)
    const [stale, fresh] = [randomUUID(), randomUUID()]
    await writeFile(join(tmp, stale), 'partial')
    await utimes(join(tmp, stale), old, old)
    await writeFile(join(tmp, fresh), 'partial')

    const partials = await listAll(store.listPartials())
    expect(partials.map((p) => p.id).sort()).toEqual([stale, fresh].sort())
    const found = partials.find((p) => p.id === stale)!
    expect(found.since.getTime()).toBe(old.getTime())
    expect(found.key).toBeUndefined()

    await store.removePartial(found)
    expect(await readdir(tmp)).toEqual([fresh])
    await rm(join(tmp, fresh))
  })

  it('leaves other files alone when a block fails (no descriptor closed twice)', async () => {
    const store = new LocalBlobStore({ root })
    const block = 5 * MiB
    const bytes = randomBytes(block)
    for (let round = 0; round < 20; round++) {
      const [failing, kept] = await Promise.all(
        [newBlobKey(), newBlobKey()].map((key) => store.beginAppend(key, { blockSize: block })),
      )
      // One byte short: fails only once the whole body has gone to the file.
      const short = store.appendBlock(
        failing!,
        { index: 0, length: block, final: true },
        Readable.from([bytes.subarray(1)]),
      )
      await expect(short).rejects.toBeInstanceOf(InvalidAppendError)
      // Opened at once, so it may get the descriptor number the failed write gave up.
      await store.appendBlock(
        kept!,
        { index: 0, length: block, final: true },
        Readable.from([bytes]),
      )
      await store.completeAppend(kept!, { blocks: 1, size: block })
      const stored = Buffer.concat(await (await store.get(kept!.key)).toArray())
      expect(stored.equals(bytes)).toBe(true)
      await store.abortAppend(failing!)
      await store.delete(kept!.key)
    }
  })

  it('refuses to remove a partial by a name it never gives one', async () => {
    const store = new LocalBlobStore({ root })

    await expect(store.removePartial({ id: '../../escape', since: new Date() })).rejects.toThrow(
      /partial/,
    )
  })
})

describe('S3BlobStore', () => {
  let s3: S3TestServer
  beforeAll(async () => {
    s3 = await startS3Server()
  })
  afterAll(() => s3.close())

  it('aborts the multipart upload of a failed put, leaving no parts behind', async () => {
    const store = s3Store(s3)
    const partSize = s3.s3Config.partSizeBytes

    // Fail only once the multipart upload exists, so there is something to abort.
    const uploadBegun = async () => {
      while ((await s3.pendingMultipartUploads()) === 0) await sleep(5)
    }
    const body = failingBody(randomBytes(2 * partSize), uploadBegun)

    await expect(store.put(newBlobKey(), body)).rejects.toThrow('client went away')

    expect(await s3.pendingMultipartUploads()).toBe(0)
  })

  it('lists the multipart uploads under its prefix with when each began, and aborts one', async () => {
    const store = s3Store(s3)
    const initiated = new Date(Math.floor(Date.now() / 1000) * 1000 - 3600_000)
    const own = newBlobKey()
    const ownId = await s3.leaveMultipartUpload(own, { initiated })
    const foreign = ['other/upload.bin', 'blobs/ab/not-a-uuid']
    const foreignIds = await Promise.all(foreign.map((key) => s3.leaveMultipartUpload(key)))

    expect(await listAll(store.listPartials())).toEqual([{ id: ownId, key: own, since: initiated }])
    await store.removePartial({ id: ownId, key: own, since: initiated })
    expect(await s3.pendingMultipartUploads()).toBe(foreign.length)

    for (const [i, key] of foreign.entries()) {
      await s3.client.send(
        new AbortMultipartUploadCommand({ Bucket: s3.bucket, Key: key, UploadId: foreignIds[i] }),
      )
    }
  })

  it('gives up on a silent store when listing and aborting, as on every other call', async () => {
    const proxy = await startFlakyProxy(s3.endpoint)
    const client = createS3Client({ ...s3.s3Config, endpoint: proxy.url, idleTimeoutMs: 200 })
    const store = s3Store({ client, s3Config: s3.s3Config })
    proxy.setMode('stall')
    try {
      const started = Date.now()
      await expect(listAll(store.list())).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(listAll(store.listPartials())).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(
        store.removePartial({ id: 'a'.repeat(32), key: newBlobKey(), since: new Date() }),
      ).rejects.toBeInstanceOf(StorageUnavailableError)
      // Three attempts of 200 ms each, per call.
      expect(Date.now() - started).toBeLessThan(10_000)
    } finally {
      client.destroy()
      await proxy.close()
    }
  })

  it('cuts the asked range out of a store that ignored Range', async () => {
    const bytes = randomBytes(300)
    // Answers as a server that ignores Range does: 200, the whole object, no Content-Range.
    const client = {
      send: async () => ({ Body: Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]) }),
    }
    const store = s3Store({ client: client as unknown as S3Client, s3Config: s3.s3Config })

    const part = await (await store.get(newBlobKey(), { start: 90, end: 209 })).toArray()

    expect(Buffer.concat(part)).toEqual(bytes.subarray(90, 210))
  })

  it('completes an append with every part of a listing that spans several pages', async () => {
    const sent: { name: string; input: Record<string, unknown> }[] = []
    const pages = [
      { Parts: [part(1, 5 * MiB), part(2, 5 * MiB)], IsTruncated: true, NextPartNumberMarker: '2' },
      { Parts: [part(3, 10)], IsTruncated: false },
    ]
    const client = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: command.constructor.name, input: command.input })
        return command.constructor.name === 'ListPartsCommand' ? pages.shift() : {}
      },
    }
    const store = s3Store({ client: client as unknown as S3Client, s3Config: s3.s3Config })
    const handle = { key: newBlobKey(), blockSize: 5 * MiB, state: { uploadId: 'u1' } }

    await store.completeAppend(handle, { blocks: 3, size: 10 * MiB + 10 })

    expect(sent.map((call) => call.input.PartNumberMarker)).toEqual([undefined, '2', undefined])
    expect(sent.at(-1)).toMatchObject({
      name: 'CompleteMultipartUploadCommand',
      input: {
        MultipartUpload: { Parts: [1, 2, 3].map((n) => ({ PartNumber: n, ETag: `"e${n}"` })) },
      },
    })
  })

  it('refuses an append past S3’s 10,000 parts before sending anything', async () => {
    const client = { send: () => Promise.reject(new Error('nothing may be sent')) }
    const store = s3Store({ client: client as unknown as S3Client, s3Config: s3.s3Config })
    const handle = { key: newBlobKey(), blockSize: 5 * MiB, state: { uploadId: 'u1' } }

    await expect(
      store.appendBlock(
        handle,
        { index: 10_000, length: 1, final: true },
        Readable.from([Buffer.of(1)]),
      ),
    ).rejects.toBeInstanceOf(InvalidAppendError)
    await expect(
      store.completeAppend(handle, { blocks: 10_001, size: 10_000 * 5 * MiB + 1 }),
    ).rejects.toThrow(/at most 10000 parts/)
  })

  it('reports an unreachable endpoint as StorageUnavailableError', async () => {
    const endpoint = await closedLoopbackEndpoint()
    const client = createS3Client({ ...s3.s3Config, endpoint })
    const store = s3Store({ client, s3Config: s3.s3Config })
    try {
      await expect(store.ping()).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(store.get(newBlobKey())).rejects.toBeInstanceOf(StorageUnavailableError)
      await expect(
        store.put(newBlobKey(), Readable.from([Buffer.from('x')])),
      ).rejects.toBeInstanceOf(StorageUnavailableError)
    } finally {
      client.destroy()
    }
  })
})

describe('createBlobStore', () => {
  it('picks local disk by default and S3 when configured', () => {
    expect(createBlobStore(parseConfig({ DATA_DIR: '/nonexistent' })).driver).toBe('local')
    const s3 = createBlobStore(parseConfig({ STORAGE_DRIVER: 's3', S3_BUCKET: 'some-bucket' }))
    expect(s3.driver).toBe('s3')
  })
})

function part(PartNumber: number, Size: number) {
  return { PartNumber, Size, ETag: `"e${PartNumber}"` }
}

async function listAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

/** A loopback address that nothing listens on. */
async function closedLoopbackEndpoint(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}
