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
export type TypeFilter = { exact: string } | { prefix: string } | { category: TypeCategory }

/**
 * Which content types each category holds is the database's to say (migrations/0017): its
 * index is built on that, so a definition here could only disagree with it.
 */
export const TYPE_CATEGORIES = ['image', 'video', 'audio', 'document', 'archive', 'other'] as const
export type TypeCategory = (typeof TYPE_CATEGORIES)[number]

export function parseTypeFilter(raw: string): TypeFilter {
  const value = raw.trim().toLowerCase()
  if (isCategory(value)) return { category: value }
  if (/^[\w.+-]+\/$/.test(value)) return { prefix: value }
  if (/^[\w.+-]+\/[\w.+-]+$/.test(value)) return { exact: value }
  throw new InvalidFilterError(
    `type must be a MIME type, a prefix such as "image/", or one of ${TYPE_CATEGORIES.join(', ')}`,
  )
}

function isCategory(value: string): value is TypeCategory {
  return (TYPE_CATEGORIES as readonly string[]).includes(value)
}

/** Escapes LIKE wildcards so a user's `%` or `_` matches itself. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`)
}
