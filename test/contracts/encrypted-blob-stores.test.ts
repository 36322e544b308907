import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { encryptedSize } from '../../src/storage/chunk-format.js'
import { EncryptedBlobStore } from '../../src/storage/encrypted-blob-store.js'
import { generateKeyRingValue, parseKeyRing } from '../../src/storage/key-ring.js'
import { LocalBlobStore } from '../../src/storage/local-blob-store.js'
import { MemoryBlobStore } from '../../src/storage/memory-blob-store.js'
import { S3BlobStore } from '../../src/storage/s3-blob-store.js'
import { startS3Server } from '../helpers/s3-server.js'
import { blobStoreContract, type ContractSubject } from './blob-store.contract.js'

/** `inner()` builds a store over the same bytes each time, as another process would. */
function encrypted(
  inner: () => BlobStore,
  subject: Pick<ContractSubject, 'teardown' | 'pendingWrites'> & { reopens?: boolean },
): ContractSubject {
  const keyRing = parseKeyRing(generateKeyRingValue())
  const store = () => new EncryptedBlobStore({ inner: inner(), keyRing })
  return {
    store: store(),
    storedSize: (size) => encryptedSize(size),
    teardown: subject.teardown,
    pendingWrites: subject.pendingWrites,
    reopen: subject.reopens ? store : undefined,
  }
}

blobStoreContract('encrypted over memory', async () => {
  const memory = new MemoryBlobStore()
  return encrypted(() => memory, { teardown: async () => {}, reopens: true })
})

blobStoreContract('encrypted over local', async () => {
  const root = await mkdtemp(join(tmpdir(), 'satchel-blobs-'))
  return encrypted(() => new LocalBlobStore({ root }), {
    teardown: () => rm(root, { recursive: true, force: true }),
    pendingWrites: async () => (await readdir(join(root, '.tmp')).catch(() => [])).length,
    reopens: true,
  })
})

blobStoreContract('encrypted over s3 (s3rver)', async () => {
  const s3 = await startS3Server()
  const inner = () =>
    new S3BlobStore({
      client: s3.client,
      bucket: s3.s3Config.bucket,
      partSizeBytes: s3.s3Config.partSizeBytes,
      queueSize: s3.s3Config.queueSize,
    })
  return encrypted(inner, {
    teardown: () => s3.close(),
    pendingWrites: () => s3.pendingMultipartUploads(),
    reopens: true,
  })
})
