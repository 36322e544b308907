import { InvalidFilterError } from './files-errors.js'

export type SortKey = 'created_at' | 'name' | 'size'
export type SortOrder = 'asc' | 'desc'

/** What a list or search request asks for; every field is optional and they combine. */
export interface FileFilters {
  q?: string
  type?: TypeFilter
  uploadedAfter?: Date
  uploadedBefore?: Date
  minSize?: number
  maxSize?: number
}

/** A content-type condition: an exact type, a prefix (`image/`), or a category. */
export type TypeFilter =
  | { exact: string }
  | { prefixes: string[]; exacts: string[]; negate: boolean }

const CATEGORIES: Record<string, { prefixes: string[]; exacts: string[] }> = {
  image: { prefixes: ['image/'], exacts: [] },
  video: { prefixes: ['video/'], exacts: [] },
  audio: { prefixes: ['audio/'], exacts: [] },
  document: {
    prefixes: [
      'text/',
      'application/vnd.openxmlformats-officedocument.',
      'application/vnd.oasis.opendocument.',
    ],
    exacts: [
      'application/pdf',
      'application/msword',
      'application/rtf',
      'application/vnd.ms-excel',
      'application/vnd.ms-powerpoint',
      'application/epub+zip',
    ],
  },
  archive: {
    prefixes: [],
    exacts: [
      'application/zip',
      'application/x-tar',
      'application/gzip',
      'application/x-gzip',
      'application/x-7z-compressed',
      'application/x-rar-compressed',
      'application/vnd.rar',
      'application/x-bzip2',
      'application/x-xz',
      'application/zstd',
    ],
  },
}

export const TYPE_CATEGORIES = [...Object.keys(CATEGORIES), 'other']

export function parseTypeFilter(raw: string): TypeFilter {
  const value = raw.trim().toLowerCase()
  const category = CATEGORIES[value]
  if (category) return { ...category, negate: false }
  if (value === 'other') {
    const all = Object.values(CATEGORIES)
    return {
      prefixes: all.flatMap((c) => c.prefixes),
      exacts: all.flatMap((c) => c.exacts),
      negate: true,
    }
  }
  if (/^[\w.+-]+\/$/.test(value)) return { prefixes: [value], exacts: [], negate: false }
  if (/^[\w.+-]+\/[\w.+-]+$/.test(value)) return { exact: value }
  throw new InvalidFilterError(
    `type must be a MIME type, a prefix such as "image/", or one of ${TYPE_CATEGORIES.join(', ')}`,
  )
}

/** Escapes LIKE wildcards so a user's `%` or `_` matches itself. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}
