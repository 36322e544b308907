/**
 * Latency of FilesRepository.search on a million-row PostgreSQL table, with the indexes from
 * migrations/ and, for comparison in the same run, with index scans disabled.
 *
 *   npx tsx bench/search.ts                      # the schema as migrated
 *   BENCH_EXTRA_DDL=1 npx tsx bench/search.ts    # then again with EXTRA_DDL applied
 *   BENCH_FILES=100000 npx tsx bench/search.ts   # a quick smaller run
 *
 * Needs the PostgreSQL server the tests use (TEST_PG_URL, default 127.0.0.1:5432). The
 * database it creates is dropped on exit.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Kysely, sql } from 'kysely'
import { parseTypeFilter, type SortKey, type SortOrder } from '../src/files/file-search.js'
import { type FileRecord, FilesRepository, type Page } from '../src/files/files-repository.js'
import { type Database, openDatabase } from '../src/infra/db.js'
import { createLogger } from '../src/infra/logger.js'
import { migrate } from '../src/infra/migrator.js'
import type { DB } from '../src/schema.js'
import { createTestDatabase, type TestDatabase } from '../test/helpers/databases.js'
import { explainSearch } from './lib/explain.js'
import { RARE_WORD, seed } from './lib/seed.js'
import { formatMs, renderTable, type Summary, summarize, timed } from './lib/stats.js'

const FILES = Number(process.env.BENCH_FILES ?? 1_000_000)
const USERS = 10_000
/** Every 5th row: the heavy user owns 20% of the table (200,000 of 1,000,000 files). */
const HEAVY_EVERY = 5
const SPAN_DAYS = 730
const DAY_MS = 86_400_000

const PAGE_SIZE = 50
const WARMUPS = 5
const ITERATIONS = 200
const BASELINE_WARMUPS = 1
const BASELINE_ITERATIONS = 20
const DEEP_PAGES = 200
const DEEP_FROM = 100

const TARGET_P95_MS = 20
const TARGET_SPEEDUP = 50

/**
 * The index experiment BENCH_EXTRA_DDL=1 applies after the first round, to measure the same
 * shapes on the same data again: one GIN that holds the owner next to the name trigrams,
 * replacing the name-only one (every name search is scoped to one owner). Everything here
 * must also run on PGlite, which ships pg_trgm and btree_gin as contrib extensions.
 */
const EXTRA_DDL: readonly string[] = [
  'create extension if not exists btree_gin',
  `create index files_owner_name_trgm_idx on files
     using gin (owner_id, name gin_trgm_ops) where status = 'available'`,
  'drop index files_name_trgm_idx',
]

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
type Run = (repo: FilesRepository, i: number) => Promise<FileRecord[]>

interface Shape {
  key: string
  label: string
  /** The i-th variant of the query; the same i always sends the same parameters. */
  run: Run
  /** Held to TARGET_SPEEDUP over the index-less baseline. */
  speedupTarget: boolean
  /** Not among the shapes the targets were set for; reported apart. */
  stress: boolean
}

interface Measured {
  shape: Shape
  samples: number[]
  indexed: Summary
  /** Parameters (the i) of the slowest sample: the one worth an EXPLAIN. */
  worst: number
}

const logger = createLogger('silent')

function page(sort: SortKey = 'created_at', order: SortOrder = 'desc', after?: Cursor): Page {
  // One row more than the page, as FilesService.list asks, to learn whether a next page exists.
  return { sort, order, limit: PAGE_SIZE + 1, after }
}

/** The cursor FilesService hands out for the last row of a page, as it decodes it again. */
function cursorFor(row: FileRecord, sort: SortKey): Cursor {
  const value = sort === 'created_at' ? row.created_at : sort === 'name' ? row.name : row.size
  return { value, id: row.id }
}

function pick<T>(values: readonly T[], i: number): T {
  return values[i % values.length]!
}

function buildShapes(ownerId: string, start: Date): Shape[] {
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
  ]
}

/** Follows the keyset cursor DEEP_PAGES deep, timing the pages from DEEP_FROM on. */
async function walkDeep(
  repo: FilesRepository,
  ownerId: string,
  sort: SortKey,
  order: SortOrder,
): Promise<{ samples: number[]; cursors: Cursor[] }> {
  const samples: number[] = []
  const cursors: Cursor[] = []
  let after: Cursor | undefined
  for (let depth = 0; depth < DEEP_PAGES; depth++) {
    const { ms, value: rows } = await timed(() =>
      repo.search(ownerId, {}, page(sort, order, after)),
    )
    if (depth >= DEEP_FROM) {
      samples.push(ms)
      cursors.push(after!)
    }
    const last = rows[PAGE_SIZE - 1]
    if (!last) throw new Error(`page ${depth} sorted by ${sort} came back short`)
    after = cursorFor(last, sort)
  }
  return { samples, cursors }
}

async function sample(
  repo: FilesRepository,
  run: Run,
  warmups: number,
  iterations: number,
): Promise<number[]> {
  for (let i = 0; i < warmups; i++) await run(repo, i)
  const samples: number[] = []
  for (let i = 0; i < iterations; i++) samples.push((await timed(() => run(repo, i))).ms)
  return samples
}

function summarizeRun(shape: Shape, samples: number[]): Measured {
  const worst = samples.indexOf(Math.max(...samples))
  return { shape, samples, indexed: summarize(samples), worst }
}

async function measureIndexed(db: Kysely<DB>, shapes: Shape[], ownerId: string) {
  const repo = new FilesRepository(db)
  const results: Measured[] = []
  const sampled = async (shape: Shape) =>
    summarizeRun(shape, await sample(repo, shape.run, WARMUPS, ITERATIONS))
  for (const shape of shapes.filter((s) => !s.stress)) results.push(await sampled(shape))
  const deep: [string, SortKey, SortOrder][] = [
    ['f1', 'created_at', 'desc'],
    ['f2', 'name', 'asc'],
    ['f3', 'size', 'desc'],
  ]
  for (const [key, sort, order] of deep) {
    const walked = await walkDeep(repo, ownerId, sort, order)
    const shape: Shape = {
      key,
      label: `page ${DEEP_FROM}-${DEEP_PAGES - 1}, ${sort} ${order}`,
      run: (r, i) => r.search(ownerId, {}, page(sort, order, pick(walked.cursors, i))),
      speedupTarget: false,
      stress: false,
    }
    results.push(summarizeRun(shape, walked.samples))
  }
  for (const shape of shapes.filter((s) => s.stress)) results.push(await sampled(shape))
  return results
}

/** The same queries with every index-based scan disabled: what the indexes are worth. */
async function measureBaseline(db: Kysely<DB>, shape: Shape): Promise<Summary> {
  const samples = await db.transaction().execute(async (trx) => {
    // SET LOCAL: the settings end with the transaction, so the pool's connections stay clean.
    await sql`set local enable_indexscan = off`.execute(trx)
    await sql`set local enable_bitmapscan = off`.execute(trx)
    await sql`set local enable_indexonlyscan = off`.execute(trx)
    return sample(new FilesRepository(trx), shape.run, BASELINE_WARMUPS, BASELINE_ITERATIONS)
  })
  return summarize(samples)
}

const passFail = (ok: boolean) => (ok ? 'PASS' : 'FAIL')
const meetsLatency = (m: Measured) => m.indexed.p95 <= TARGET_P95_MS
const speedup = (m: Measured, baselines: Map<string, Summary>) =>
  baselines.get(m.shape.key)!.p50 / m.indexed.p50
const meetsSpeedup = (m: Measured, baselines: Map<string, Summary>) =>
  !m.shape.speedupTarget || speedup(m, baselines) >= TARGET_SPEEDUP

function printResults(results: Measured[], baselines: Map<string, Summary>, heavyFiles: number) {
  const rows = results.map(({ shape, indexed }) => {
    const base = baselines.get(shape.key)
    return [
      `${shape.key} ${shape.label}`,
      String(indexed.n),
      formatMs(indexed.p50),
      formatMs(indexed.p95),
      formatMs(indexed.p99),
      base ? formatMs(base.p50) : '-',
      base ? formatMs(base.p95) : '-',
      base ? `${(base.p50 / indexed.p50).toFixed(0)}x` : '-',
      base ? `${(base.p95 / indexed.p95).toFixed(0)}x` : '-',
    ]
  })
  console.log(
    renderTable(
      [
        `shape (heavy user, ${heavyFiles.toLocaleString('en')} files)`,
        'n',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'base p50',
        'base p95',
        'x p50',
        'x p95',
      ],
      rows,
    ),
  )
  console.log(
    `(indexed: n samples each; base: ${BASELINE_ITERATIONS} samples with index, bitmap and ` +
      'index-only scans off; x = baseline / indexed, medians and p95s)',
  )
}

function checkTargets(results: Measured[], baselines: Map<string, Summary>): Measured[] {
  console.log(`\nTargets: p95 <= ${TARGET_P95_MS} ms with indexes`)
  for (const m of results.filter((r) => !r.shape.stress)) {
    console.log(`  ${passFail(meetsLatency(m))}  ${m.shape.key} ${m.shape.label}`)
  }
  console.log('  stress shapes (beyond the brief, same target):')
  for (const m of results.filter((r) => r.shape.stress)) {
    console.log(`  ${passFail(meetsLatency(m))}  ${m.shape.key} ${m.shape.label}`)
  }
  console.log(`Targets: name substring >= ${TARGET_SPEEDUP}x faster than baseline (medians)`)
  for (const m of results.filter((r) => r.shape.speedupTarget)) {
    const x = speedup(m, baselines).toFixed(0)
    console.log(`  ${passFail(meetsSpeedup(m, baselines))}  ${m.shape.key} ${m.shape.label}: ${x}x`)
  }
  return results.filter((m) => !meetsLatency(m) || !meetsSpeedup(m, baselines))
}

async function printPlans(db: Kysely<DB>, misses: Measured[], title: string) {
  for (const m of misses) {
    console.log(`\nEXPLAIN (ANALYZE, BUFFERS) ${title}: ${m.shape.key} ${m.shape.label}`)
    console.log(`  (parameters of its slowest sample, ${formatMs(m.samples[m.worst]!)} ms)`)
    const plan = await explainSearch(db, (repo) => m.shape.run(repo, m.worst))
    const head = plan.slice(0, 14)
    const timing = plan.filter((line) => /^(Planning|Execution) Time/.test(line))
    for (const line of [...head, ...(plan.length > head.length ? ['...', ...timing] : [])]) {
      console.log(`  ${line}`)
    }
  }
}

async function describeData(db: Kysely<DB>, ownerId: string) {
  const { rows } = await sql<{ word: string; all_pct: number; heavy: number; heavy_pct: number }>`
    select w.word,
      round(100.0 * count(*) filter (where f.name ilike '%' || w.word || '%') / count(*), 2)::float8 as all_pct,
      count(*) filter (where f.owner_id = ${ownerId} and f.name ilike '%' || w.word || '%')::int as heavy,
      round(100.0 * count(*) filter (where f.owner_id = ${ownerId} and f.name ilike '%' || w.word || '%')
        / count(*) filter (where f.owner_id = ${ownerId}), 2)::float8 as heavy_pct
    from files f cross join unnest(${['invoice', 'report', 'tax', RARE_WORD]}::text[]) as w(word)
    group by w.word
  `.execute(db)
  for (const r of rows) {
    console.log(
      `  '${r.word}': ${r.all_pct}% of all rows; heavy user: ${r.heavy} rows (${r.heavy_pct}%)`,
    )
  }
}

async function main(database: Database<DB>, testDb: TestDatabase) {
  const { db } = database
  const version = await sql<{ v: string }>`select current_setting('server_version') as v`.execute(
    db,
  )
  console.log(`PostgreSQL ${version.rows[0]?.v}, database ${new URL(testDb.url).pathname.slice(1)}`)
  await migrate(db, logger)

  const start = new Date(Date.now() - SPAN_DAYS * DAY_MS)
  console.log(
    `Seeding ${FILES.toLocaleString('en')} files over ${USERS.toLocaleString('en')} users…`,
  )
  const seeded = await timed(() =>
    seed(db, { users: USERS, files: FILES, heavyEvery: HEAVY_EVERY, start, spanDays: SPAN_DAYS }),
  )
  const { heavyOwnerId, heavyFiles } = seeded.value
  console.log(
    `Seeded and analyzed in ${(seeded.ms / 1000).toFixed(1)} s; heavy user ${heavyOwnerId} owns ${heavyFiles.toLocaleString('en')} files`,
  )
  await describeData(db, heavyOwnerId)

  const shapes = buildShapes(heavyOwnerId, start)
  console.log(`\nIndexed: ${WARMUPS} warm-ups + ${ITERATIONS} runs per shape…`)
  const indexedRun = await timed(() => measureIndexed(db, shapes, heavyOwnerId))
  const results = indexedRun.value
  console.log(`  done in ${(indexedRun.ms / 1000).toFixed(1)} s`)

  console.log(`Baseline: ${BASELINE_WARMUPS} warm-up + ${BASELINE_ITERATIONS} runs per shape…`)
  const baselines = new Map<string, Summary>()
  const baselineRun = await timed(async () => {
    for (const m of results) baselines.set(m.shape.key, await measureBaseline(db, m.shape))
  })
  console.log(`  done in ${(baselineRun.ms / 1000).toFixed(1)} s\n`)

  printResults(results, baselines, heavyFiles)
  const misses = checkTargets(results, baselines)
  await printPlans(db, misses, 'with the migrated indexes')

  if (process.env.BENCH_EXTRA_DDL !== '1') return
  console.log('\nBENCH_EXTRA_DDL=1: experiment, applied to this benchmark database only:')
  for (const statement of EXTRA_DDL) {
    const { ms } = await timed(() => sql.raw(statement).execute(db))
    console.log(`  ${statement.replace(/\s+/g, ' ')};  -- ${(ms / 1000).toFixed(1)} s`)
  }
  await sql`analyze files`.execute(db)
  const after = await measureIndexed(db, shapes, heavyOwnerId)
  const rows = results.map((before, index) => {
    const now = after[index]!
    return [
      `${before.shape.key} ${before.shape.label}`,
      formatMs(before.indexed.p50),
      formatMs(before.indexed.p95),
      formatMs(now.indexed.p50),
      formatMs(now.indexed.p95),
      formatMs(now.indexed.p99),
      `${speedup(now, baselines).toFixed(0)}x`,
      passFail(meetsLatency(now)),
      now.shape.speedupTarget ? passFail(meetsSpeedup(now, baselines)) : '-',
    ]
  })
  console.log(
    `\n${renderTable(
      [
        'shape',
        'before p50',
        'before p95',
        'after p50',
        'after p95',
        'after p99',
        'x p50',
        `p95<=${TARGET_P95_MS}`,
        `>=${TARGET_SPEEDUP}x`,
      ],
      rows,
    )}`,
  )
  const missedBefore = new Set(misses.map((m) => m.shape.key))
  // A new index can win a plan it should not: shapes that got much slower are shown too.
  const regressed = (m: Measured, index: number) =>
    m.indexed.p50 > 2 && m.indexed.p50 > 1.5 * results[index]!.indexed.p50
  await printPlans(
    db,
    after.filter(
      (m, index) =>
        missedBefore.has(m.shape.key) ||
        !meetsLatency(m) ||
        !meetsSpeedup(m, baselines) ||
        regressed(m, index),
    ),
    'with EXTRA_DDL',
  )
}

const testDb = await createTestDatabase()
const dataDir = await mkdtemp(join(tmpdir(), 'satchel-bench-'))
const database = await openDatabase<DB>({ url: testDb.url, dataDir, logger })
let cleaned: Promise<void> | undefined
// Idempotent, so Ctrl-C during the run and the normal exit path can both call it.
const cleanup = () => {
  cleaned ??= (async () => {
    await database.close().catch(() => undefined)
    await testDb.drop()
    await rm(dataDir, { recursive: true, force: true })
  })()
  return cleaned
}
process.once('SIGINT', () => {
  void cleanup().finally(() => process.exit(130))
})
try {
  await main(database, testDb)
} catch (err) {
  console.error(err)
  process.exitCode = 1
} finally {
  await cleanup()
}
