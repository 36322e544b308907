import { open } from 'node:fs/promises'
import { BLOB_KEY_PREFIX } from './blob-key.js'

// Partial writes (a put's temporary file, an append's blocks) live here, never at a key, so a
// crash mid-upload leaves nothing that list() reports as a blob. Keys cannot start with '.',
// so no key can collide with it.
export const TMP_DIR = '.tmp'
// The names partial writes get: a put's randomUUID(), an append's `<UUID of its key>.append`;
// nothing else there is removed.
export const TMP_NAME =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:\.append)?$/
const APPEND_SUFFIX = '.append'

/**
 * An append's partial is named after its key, so listPartials reports the key and the
 * reconciler spares an upload that a row still names, however long its client pauses.
 */
export function appendPartialName(key: string): string {
  return `${key.slice(key.lastIndexOf('/') + 1)}${APPEND_SUFFIX}`
}

/** The key of an append's partial, from its name; none for a put's. */
export function keyOfPartial(name: string): string | undefined {
  if (!name.endsWith(APPEND_SUFFIX)) return undefined
  const uuid = name.slice(0, -APPEND_SUFFIX.length)
  // newBlobKey()'s fan-out is the UUID's own first byte.
  return `${BLOB_KEY_PREFIX}${uuid.slice(0, 2)}/${uuid}`
}

export async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

export async function unlessMissing<T>(promise: Promise<T>): Promise<T | undefined> {
  try {
    return await promise
  } catch (error) {
    if (isMissing(error)) return undefined
    throw error
  }
}

export function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  return code === 'ENOENT' || code === 'ENOTDIR'
}
