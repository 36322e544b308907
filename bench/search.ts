/**
 * Latency of FilesRepository.search on a million-row PostgreSQL table whose heaviest user
 * owns 200,000 files, in two parts:
 *
 * 1. sequential: each query shape alone, with the indexes from migrations/ and, for
 *    comparison in the same run, with index scans disabled; EXPLAIN for the slow ones.
 * 2. concurrent: the realistic mix (shapes a–g and the deep pages f1–f3, each query with its
 *    own parameters) as 10 closed-loop streams through one pool, as the service's requests
 *    share it, alternated with one stream in BENCH_SEARCH_ROUNDS rounds (3) of
 *    BENCH_SEARCH_QUERIES queries (1200): p50/p95/p99, and the CPU per query of this process
 *    (query building, row parsing) and of the PostgreSQL backends (from /proc, when the
 *    server runs on this host). Target: p95 ≤ 20 ms at 10 concurrent.
 *
 *   npx tsx bench/search.ts                                # both parts
 *   BENCH_SEARCH_MODE=concurrent npx tsx bench/search.ts   # part 2 only (sequential: 1 only)
 *   BENCH_SEARCH_POOL=4 npx tsx bench/search.ts            # pool size (default: the service's)
 *   BENCH_EXTRA_DDL=1 npx tsx bench/search.ts              # then part 1 with EXTRA_DDL applied
 *   BENCH_FILES=100000 npx tsx bench/search.ts             # a quick smaller run
 *
 * Needs the PostgreSQL server the tests use (TEST_PG_URL, default 127.0.0.1:5432). The
 * database it creates is dropped on exit.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Kysely, sql } from 'kysely'
import { FilesRepository } from '../src/files/files-repository.js'
import { type Database, openDatabase } from '../src/infra/db.js'
import { createLogger } from '../src/infra/logger.js'
import { migrate } from '../src/infra/migrator.js'
import type { DB } from '../src/schema.js'
import { createTestDatabase, type TestDatabase } from '../test/helpers/databases.js'
import { explainSearch } from './lib/explain.js'
import { envInt } from './lib/processes.js'
import {
  buildShapes,
  DAY_MS,
  deepShapes,
  type Run,
  type Shape,
  SPAN_DAYS,
} from './lib/search-shapes.js'
import { alternateStreams, printStreams } from './lib/search-streams.js'
import { RARE_WORD, seed } from './lib/seed.js'
import { formatMs, renderTable, type Summary, summarize, timed } from './lib/stats.js'

const FILES = Number(process.env.BENCH_FILES ?? 1_000_000)
const USERS = 10_000
/** Every 5th row: the heavy user owns 20% of the table (200,000 of 1,000,000 files). */
const HEAVY_EVERY = 5
const MODE = process.env.BENCH_SEARCH_MODE ?? 'all'

const WARMUPS = 5
const ITERATIONS = 200
const BASELINE_WARMUPS = 1
const BASELINE_ITERATIONS = 20

const CONCURRENCY = 10
const STREAM_ROUNDS = envInt('BENCH_SEARCH_ROUNDS', 3)
const STREAM_QUERIES = envInt('BENCH_SEARCH_QUERIES', 1200)
/** pg's pool size for part 2; unset, the service's default. */
const POOL_SIZE = process.env.BENCH_SEARCH_POOL ? envInt('BENCH_SEARCH_POOL', 10) : undefined

const TARGET_P95_MS = 20
const TARGET_SPEEDUP = 50

/**
 * The index experiment BENCH_EXTRA_DDL=1 applies after part 1, to measure the same shapes on
 * the same data again: the trigrams of the lowered name alone, without the owner, as before
 * migrations/0006. A rare word's lookup then skips the heavy user's 200,000-entry list of the
 * owner key; a small user's search for a word common over the whole table, which 0006 added
 * the owner for, is not among the shapes. Everything here must also run on PGlite.
 */
const EXTRA_DDL: readonly string[] = [
  `create index files_name_folded_trgm_idx on files using gin (name_folded gin_trgm_ops)
     where status = 'available'`,
  'drop index files_owner_name_folded_trgm_idx',
]

interface Measured {
  shape: Shape
  samples: number[]
  indexed: Summary
  /** Parameters (the i) of the slowest sample: the one worth an EXPLAIN. */
  worst: number
}

const logger = createLogger('silent')

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

async function measureIndexed(db: Kysely<DB>, shapes: Shape[]) {
  const repo = new FilesRepository(db)
  const results: Measured[] = []
  // The stress shapes last, so they are reported apart.
  for (const shape of [...shapes.filter((s) => !s.stress), ...shapes.filter((s) => s.stress)]) {
    results.push(summarizeRun(shape, await sample(repo, shape.run, WARMUPS, ITERATIONS)))
  }
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

/** Part 1: each shape alone, against the same shape with index scans disabled. */
async function sequential(db: Kysely<DB>, shapes: Shape[], heavyFiles: number) {
  console.log(`\nIndexed: ${WARMUPS} warm-ups + ${ITERATIONS} runs per shape…`)
  const indexedRun = await timed(() => measureIndexed(db, shapes))
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
  const after = await measureIndexed(db, shapes)
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

/** Part 2: the mix as CONCURRENCY streams and as one, alternated round by round. */
async function concurrent(db: Kysely<DB>, mix: Shape[], heavyFiles: number) {
  console.log(
    `\nConcurrent: ${STREAM_ROUNDS} rounds of ${STREAM_QUERIES} queries, one stream then ` +
      `${CONCURRENCY}, pool of ${POOL_SIZE ?? 'the default'} connections…`,
  )
  const runs = await alternateStreams(db, mix, {
    levels: [1, CONCURRENCY],
    rounds: STREAM_ROUNDS,
    queries: STREAM_QUERIES,
  })
  const levels = printStreams(runs, mix, `heavy user, ${heavyFiles.toLocaleString('en')} files`)
  const alone = levels.get(1)!
  const together = levels.get(CONCURRENCY)!
  console.log(
    `\nTarget: p95 <= ${TARGET_P95_MS} ms at ${CONCURRENCY} concurrent queries (median of the ` +
      `rounds' p95s)\n  ${passFail(together.medianP95 <= TARGET_P95_MS)}  ` +
      `${formatMs(together.medianP95)} ms, over all rounds ${formatMs(together.pooled.p95)} ms ` +
      `(one at a time: ${formatMs(alone.medianP95)} ms, ${formatMs(alone.pooled.p95)} ms)`,
  )
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
    `Seeded, vacuumed and analyzed in ${(seeded.ms / 1000).toFixed(1)} s; heavy user ${heavyOwnerId} owns ${heavyFiles.toLocaleString('en')} files`,
  )
  await describeData(db, heavyOwnerId)

  const shapes = [
    ...buildShapes(heavyOwnerId, start),
    ...(await deepShapes(new FilesRepository(db), heavyOwnerId)),
  ]
  if (!['all', 'concurrent', 'sequential'].includes(MODE)) {
    throw new Error(`BENCH_SEARCH_MODE must be all, concurrent or sequential (got ${MODE})`)
  }
  if (MODE !== 'concurrent') await sequential(db, shapes, heavyFiles)
  if (MODE !== 'sequential') {
    await concurrent(
      db,
      shapes.filter((s) => !s.stress),
      heavyFiles,
    )
  }
}

const testDb = await createTestDatabase()
const dataDir = await mkdtemp(join(tmpdir(), 'satchel-bench-'))
const database = await openDatabase<DB>({ url: testDb.url, dataDir, logger, poolSize: POOL_SIZE })
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
