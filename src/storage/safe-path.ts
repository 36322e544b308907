import { isAbsolute, relative, resolve, sep } from 'node:path'

/**
 * Resolves `key` to an absolute path strictly inside `root`, or throws. Every local disk path
 * goes through here, so a key can never name the root itself or anything outside it.
 */
export function safeJoin(root: string, key: string): string {
  if (key.includes('\0')) throw new Error('Path escapes the storage root')
  const base = resolve(root)
  const target = resolve(base, key)
  const rel = relative(base, target)
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new Error('Path escapes the storage root')
  }
  return target
}
