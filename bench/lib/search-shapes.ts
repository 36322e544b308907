import { parseTypeFilter, type SortKey, type SortOrder } from '../../src/files/file-search.js'
import {
  type FilesRepository,
  type ListedFile,
  type ListedPage,
  type Page,
  parseListedFile,
} from '../../src/files/files-repository.js'
import { RARE_WORD } from './seed.js'

/** The query shapes bench/search.ts measures, one at a time and as concurrent streams. */

export const SPAN_DAYS = 730
export const DAY_MS = 86_400_000
const PAGE_SIZE = 50
/** Keyset pages followed for the deep-paging shapes, which ask for those from DEEP_FROM on. */
const DEEP_PAGES = 200
const DEEP_FROM = 100

const COMMON_WORDS = [
  'invoice',
  'report',
  'photo',
  'contract',
  'budget',
  'receipt',
  'vacation',
  'project',
  'notes',
  'tax',
]
const RARE_QUERIES = [RARE_WORD, 'Zanzibar', 'zanzi', 'anzib']
/** Misspellings: nothing matches, the worst case for a plan that filters rows one by one. */
const TYPO_QUERIES = ['invioce', 'reciept', 'contarct', 'vacaton']
const EXACT_TYPES = ['image/jpeg', 'application/pdf', 'video/mp4', 'text/plain', 'application/zip']

type Cursor = NonNullable<Page['after']>
export type Run = (repo: FilesRepository, i: number) => Promise<ListedPage>

export interface Shape {
  key: string
  label: string
  /** The i-th variant of the query; the same i always sends the same parameters. */
  run: Run
  /** Held to the speedup target over the index-less baseline. */
  speedupTarget: boolean
  /** Not among the shapes the targets were set for; reported apart. */
  stress: boolean
}

function page(sort: SortKey = 'created_at', order: SortOrder = 'desc', after?: Cursor): Page {
  // One row more than the page, as FilesService.list asks, to learn whether a next page exists.
  return { sort, order, limit: PAGE_SIZE + 1, after }
}

/** The cursor FilesService hands out for the last row of a page, as it decodes it again. */
function cursorFor(row: ListedFile, sort: SortKey): Cursor {
  const value = sort === 'created_at' ? row.created_at : sort === 'name' ? row.name : row.size
  return { value, id: row.id }
}

function pick<T>(values: readonly T[], i: number): T {
  return values[i % values.length]!
}

/** The filtered shapes; `start` is the creation time of the oldest seeded file. */
export function buildShapes(ownerId: string, start: Date): Shape[] {
  const end = new Date(start.getTime() + SPAN_DAYS * DAY_MS)
  // A one-month window somewhere in the two years, a different one on each run.
  const window = (i: number) => {
    const from = new Date(start.getTime() + (15 + ((i * 37) % (SPAN_DAYS - 45))) * DAY_MS)
    return { uploadedAfter: from, uploadedBefore: new Date(from.getTime() + 30 * DAY_MS) }
  }
  const shape = (key: string, label: string, run: Run, speedupTarget = false): Shape => ({
    key,
    label,
    run,
    speedupTarget,
    stress: false,
  })
  const stress = (key: string, label: string, run: Run): Shape => ({
    ...shape(key, label, run),
    stress: true,
  })
  return [
    shape(
      'a',
      'name substring, common word (q)',
      (repo, i) => repo.search(ownerId, { q: pick(COMMON_WORDS, i) }, page()),
      true,
    ),
    shape(
      'a2',
      'name substring, rare word',
      (repo, i) => repo.search(ownerId, { q: pick(RARE_QUERIES, i) }, page()),
      true,
    ),
    shape(
      'a3',
      'name substring, no match (typo)',
      (repo, i) => repo.search(ownerId, { q: pick(TYPO_QUERIES, i) }, page()),
      true,
    ),
    shape('b', 'type = exact MIME', (repo, i) =>
      repo.search(ownerId, { type: parseTypeFilter(pick(EXACT_TYPES, i)) }, page()),
    ),
    shape('c1', "type = category 'image'", (repo) =>
      repo.search(ownerId, { type: parseTypeFilter('image') }, page()),
    ),
    shape('c2', "type = category 'document'", (repo) =>
      repo.search(ownerId, { type: parseTypeFilter('document') }, page()),
    ),
    shape('d', 'date range (1 month)', (repo, i) => repo.search(ownerId, window(i), page())),
    shape('e', 'q + category + 1 month + min_size 1MB', (repo, i) =>
      repo.search(
        ownerId,
        {
          q: pick(COMMON_WORDS, i),
          type: parseTypeFilter(pick(['document', 'image'], i)),
          ...window(i),
          minSize: 1_000_000,
        },
        page(),
      ),
    ),
    shape('g', 'newest first, first page', (repo) => repo.search(ownerId, {}, page())),
    // Beyond the brief: realistic searches whose matches are few, or sit far from the head
    // of the sort order, so a plan that filters an ordered index row by row reads far.
    stress('s1', 'q = a year in names (2025/2024)', (repo, i) =>
      repo.search(ownerId, { q: pick(['2025', '2024'], i) }, page()),
    ),
    stress('s2', 'q + category + last ~year + min_size 100MB', (repo, i) =>
      repo.search(
        ownerId,
        {
          q: pick(COMMON_WORDS, i),
          type: parseTypeFilter(pick(['video', 'document', 'image', 'audio'], i)),
          uploadedAfter: new Date(end.getTime() - (300 + (i % 60)) * DAY_MS),
          minSize: 100_000_000,
        },
        page(),
      ),
    ),
    stress('s3', 'q, sorted by name asc', (repo, i) =>
      repo.search(ownerId, { q: pick(COMMON_WORDS, i) }, page('name', 'asc')),
    ),
    stress('s4', 'q, sorted by size desc', (repo, i) =>
      repo.search(ownerId, { q: pick(COMMON_WORDS, i) }, page('size', 'desc')),
    ),
  ]
}

const DEEP_SORTS: readonly [key: string, sort: SortKey, order: SortOrder][] = [
  ['f1', 'created_at', 'desc'],
  ['f2', 'name', 'asc'],
  ['f3', 'size', 'desc'],
]

/**
 * Pages DEEP_FROM to DEEP_PAGES - 1 of the owner's unfiltered list in each sort order: the
 * cursor of each is found by following next cursors from the first page, as a client would.
 */
export async function deepShapes(repo: FilesRepository, ownerId: string): Promise<Shape[]> {
  const shapes: Shape[] = []
  for (const [key, sort, order] of DEEP_SORTS) {
    const cursors: Cursor[] = []
    let after: Cursor | undefined
    for (let depth = 0; depth < DEEP_PAGES; depth++) {
      if (depth >= DEEP_FROM) cursors.push(after!)
      const { files } = await repo.search(ownerId, {}, page(sort, order, after))
      const last = files[PAGE_SIZE - 1]
      if (!last) throw new Error(`page ${depth} sorted by ${sort} came back short`)
      after = cursorFor(parseListedFile(last), sort)
    }
    shapes.push({
      key,
      label: `page ${DEEP_FROM}-${DEEP_PAGES - 1}, ${sort} ${order}`,
      run: (r, i) => r.search(ownerId, {}, page(sort, order, pick(cursors, i))),
      speedupTarget: false,
      stress: false,
    })
  }
  return shapes
}
