import type { Logger } from '../infra/logger.js'
import { rewrapEnvelope } from '../storage/encrypted-blob-store.js'
import type { KeyRing } from '../storage/key-ring.js'
import type { FilesRepository } from './files-repository.js'

const BATCH = 500

/**
 * Re-wraps every file's data key under the ring's current master key, so older master keys
 * can leave the ring. Only the small wrapped keys change; the stored bytes are untouched.
 * Safe to run again, and alongside a serving instance.
 */
export async function rewrapAllFiles(files: FilesRepository, ring: KeyRing, logger: Logger) {
  let after = '00000000-0000-0000-0000-000000000000'
  let rewrapped = 0
  let checked = 0
  for (;;) {
    const batch = await files.envelopesAfter(after, BATCH)
    for (const row of batch) {
      const next = rewrapEnvelope(row.envelope!, ring, row.storage_key)
      if (next) {
        await files.replaceEnvelope(row.id, row.envelope!, next)
        rewrapped++
      }
    }
    checked += batch.length
    const last = batch.at(-1)
    if (!last || batch.length < BATCH) break
    after = last.id
  }
  logger.info({ checked, rewrapped, keyId: ring.current.id }, 'data keys re-wrapped')
  return { checked, rewrapped }
}
