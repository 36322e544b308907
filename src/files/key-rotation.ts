import type { Logger } from '../infra/logger.js'
import { rewrapEnvelope } from '../storage/encrypted-blob-store.js'
import type { KeyRing } from '../storage/key-ring.js'
import type { FilesRepository } from './files-repository.js'

const BATCH = 500

export interface RewrapOptions {
  files: FilesRepository
  ring: KeyRing
  logger: Logger
  /**
   * Forgets cached metadata of files whose envelope changed, once the change is committed:
   * a cached envelope may be wrapped under a key that is about to leave the ring. Absent
   * when the cache lives in the serving process (a restart empties it).
   */
  invalidate?: (ids: string[]) => Promise<void>
}

/**
 * Re-wraps every file's data key under the ring's current master key, so older master keys
 * can leave the ring. Only the small wrapped keys change; the stored bytes are untouched.
 * Safe to run again, and alongside a serving instance.
 */
export async function rewrapAllFiles({ files, ring, logger, invalidate }: RewrapOptions) {
  let after = '00000000-0000-0000-0000-000000000000'
  let rewrapped = 0
  let checked = 0
  for (;;) {
    const batch = await files.envelopesAfter(after, BATCH)
    const changed: string[] = []
    for (const row of batch) {
      const next = rewrapEnvelope(row.envelope!, ring, row.storage_key)
      if (next) {
        await files.replaceEnvelope(row.id, row.envelope!, next)
        changed.push(row.id)
      }
    }
    if (changed.length > 0)
      await invalidate?.(changed).catch((err) => {
        throw new Error(
          `${changed.length} re-wrapped files may still be cached with their old envelope ` +
            `(${err.message}): keep the old key in ENCRYPTION_KEY for CACHE_TTL_SECONDS more`,
        )
      })
    rewrapped += changed.length
    checked += batch.length
    const last = batch.at(-1)
    if (!last || batch.length < BATCH) break
    after = last.id
  }
  logger.info({ checked, rewrapped, keyId: ring.current.id }, 'data keys re-wrapped')
  return { checked, rewrapped }
}
