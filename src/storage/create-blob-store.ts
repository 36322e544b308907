import { join } from 'node:path'
import type { Config } from '../config.js'
import type { BlobStore } from './blob-store.js'
import { EncryptedBlobStore } from './encrypted-blob-store.js'
import { parseKeyRing } from './key-ring.js'
import { LocalBlobStore } from './local-blob-store.js'
import { createS3Client, S3BlobStore } from './s3-blob-store.js'

/** The one place that picks the storage backend from configuration. */
export function createBlobStore(config: Config): BlobStore {
  const store = plainStore(config)
  return config.encryptionKey
    ? new EncryptedBlobStore({ inner: store, keyRing: parseKeyRing(config.encryptionKey) })
    : store
}

function plainStore(config: Config): BlobStore {
  if (config.storage.driver === 's3') {
    const { s3 } = config.storage
    return new S3BlobStore({
      client: createS3Client(s3),
      bucket: s3.bucket,
      partSizeBytes: s3.partSizeBytes,
      queueSize: s3.queueSize,
    })
  }
  return new LocalBlobStore({ root: join(config.dataDir, 'blobs') })
}
