import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough, Readable } from 'node:stream'
import { setImmediate as tick } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashThread } from '../../src/infra/hash-thread.js'
import { newBlobKey } from '../../src/storage/blob-key.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { EncryptedBlobStore } from '../../src/storage/encrypted-blob-store.js'
import { parseKeyRing } from '../../src/storage/key-ring.js'
import { LocalBlobStore } from '../../src/storage/local-blob-store.js'

const MiB = 1024 * 1024

// Uploads are hashed on a thread of their own (infra/hash-thread.ts): if it stops while a
// blob is written, that write fails as a write, leaving nothing behind, and the next one
// is hashed on a new thread.
describe('a hashing thread that stops during a write', () => {
  let root: string
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'satchel-hash-thread-'))
  })
  afterAll(() => rm(root, { recursive: true, force: true }))

  const stores: [string, (local: LocalBlobStore) => BlobStore][] = [
    ['local', (local) => local],
    [
      'encrypted',
      (inner) =>
        new EncryptedBlobStore({
          inner,
          keyRing: parseKeyRing(`a:${randomBytes(32).toString('base64')}`),
        }),
    ],
  ]

  it.each(stores)(
    'fails the %s write, leaves no partial, and the next write hashes',
    async (_, make) => {
      const local = new LocalBlobStore({ root })
      const store = make(local)
      const body = new PassThrough()
      const written = store.put(newBlobKey(), body)
      body.write(randomBytes(2 * MiB))
      // Until the store has taken all of it in, so its digest is on the thread. ('drain'
      // does not tell: a store that reads at once takes the write whole, and none is due.)
      while (body.writableLength > 0) await tick()
      await hashThread.close()
      body.end(randomBytes(MiB))
      await expect(written).rejects.toThrow(/hashing thread stopped/)
      const partials = []
      for await (const partial of local.listPartials()) partials.push(partial)
      expect(partials).toEqual([])

      const bytes = randomBytes(3 * MiB + 5)
      const result = await store.put(newBlobKey(), Readable.from([bytes]))
      expect(result.sha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    },
  )
})
