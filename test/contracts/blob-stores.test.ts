import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { S3Client } from '@aws-sdk/client-s3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import { createBlobStore } from '../../src/storage/create-blob-store.js'
import { LocalBlobStore } from '../../src/storage/local-blob-store.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { createS3Client, S3BlobStore } from '../../src/storage/s3-blob-store.js'
import { StorageUnavailableError } from '../../src/storage/storage-errors.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { blobStoreContract } from './blob-store.contract.js'

blobStoreContract('local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'satchel-blobs-'))
  return {
    store: new LocalBlobStore({ root }),
    teardown: () => rm(root, { recursive: true, force: true }),
  }
})

blobStoreContract('memory', async () => ({
  store: new MemoryBlobStore(),
  teardown: async () => {},
}))

blobStoreContract('s3 (s3rver)', async () => {
  const s3 = await startS3Server()
  return { store: s3Store(s3), teardown: () => s3.close() }
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

/** A loopback address that nothing listens on. */
async function closedLoopbackEndpoint(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}
