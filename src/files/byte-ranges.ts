import type { ByteRange } from '../storage/blob-store.js'

/**
 * Interprets a Range header for a resource of `size` bytes (RFC 9110 §14.1.2).
 * Returns undefined when the whole resource should be sent (no header, another unit, or
 * several ranges, which we answer in full rather than as multipart/byteranges), and
 * 'unsatisfiable' when no requested byte exists.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header)
  if (!match) return undefined
  const [, first, last] = match
  if (first === '' && last === '') return undefined
  if (first === '') {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1)
  if (start >= size) return 'unsatisfiable'
  if (end < start) return undefined
  return { start, end }
}
