/**
 * GET /files under wrk, on a fresh process and again in the same process after a mixed load,
 * each run beside a bare Fastify route answering the same bytes (bench/baseline-json-server.ts),
 * alternated. Satchel runs as `npm start` does (the build, node flags from package.json), on
 * PostgreSQL and local storage, encryption off, LOG_LEVEL=warn, rate limits counted but
 * never reached. wrk runs outside the servers on the same 2 cores; each run charges the
 * server's CPU time (/proc/PID/stat) to its requests.
 *
 *   - cached: `GET /files?limit=50`, the same first page every time (list cache, rendered
 *     JSON), `wrk -c50`. Targets: ≥ 0.6× the bare route's req/s and ≤ 1.6× its CPU/request
 *     (the medians'; the range of the rounds' own ratios is printed beside).
 *   - cache miss: 50-row pages too, each request another one: 10 walks through the user's
 *     files (each from its own `uploaded_before`, on by keyset cursors) give twice as many
 *     distinct pages as the list cache holds, and each run goes on where the last stopped, so
 *     every page loads from PostgreSQL (Satchel's cache counters must agree). Target: ≤ 200 µs
 *     of server CPU per page. Beside it, the database floor (bench/baseline-page-server.ts):
 *     the same pages by Satchel's own SQL, from a bare route on a pg pool, so what a page
 *     costs beyond Fastify, pg and PostgreSQL is the difference.
 *   - fresh: both Satchel processes (see the control below) first serve BENCH_WARM_SECONDS of
 *     the mixed load below, as a just-started instance serves every kind of request. A
 *     process that has served GET /files alone runs it on type feedback no server keeps: the
 *     first seconds of other requests made shared code polymorphic (V8 deoptimised and
 *     reoptimised Node's http and stream internals, Fastify's reply and Satchel's own list
 *     path: `--log-deopt`): a one-time step in CPU per cached request that a few seconds of
 *     mixed load take whole (docs/benchmarks.md, 2026-12-01). BENCH_WARM_SECONDS=0 measures
 *     such single-route processes.
 *   - aged: after the fresh runs, BENCH_MIXED_SECONDS of uploads, ranged and whole
 *     downloads, searches, metadata reads and deletes by other users (bench/lib/mixed-load.ts),
 *     then the same runs again. A second Satchel process on the same database (the control)
 *     is measured in every round right after it but gets no more mixed load: the CPU per
 *     cached request over the control's in the same round (median over the rounds), after the
 *     load against before, is the aging, what serving more left behind (heap, caches,
 *     timers), free of the machine getting busier or quieter meanwhile. Target: ≤ 1.1×.
 *     Heap, RSS, young generation and GC come from each process's GET /metrics, per run and
 *     between the phases: the control idles through the load, and before
 *     --min-semi-space-size (package.json's start script) V8 shrank its young generation
 *     there, which read as the control aging.
 *
 *   npx tsx bench/api.ts
 *
 * Environment (all optional): BENCH_SECONDS (5) per wrk run, BENCH_RUNS (5) alternated rounds
 * per phase, BENCH_LIST_FILES (110000) seeded files of the listing user, BENCH_MISS_PAGES
 * (2000) distinct pages, BENCH_WARM_SECONDS (5), BENCH_MIXED_SECONDS (45), BENCH_AGED=0 to
 * stop after the fresh phase, BENCH_PAUSE_MS (0) for each connection to wait that long after
 * every response (wrk's delay()), so Satchel and its baselines are measured at about the same
 * pace rather than each as fast as it goes, BENCH_NODE_FLAGS for the measured Satchel's node
 * command line (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`; the profile is written when the
 * bench stops it). Needs wrk (`apt-get install wrk`) and PostgreSQL as the tests do (TEST_PG_URL).
 * Exits 0 whether or not the targets are met; 1 when something failed (a refused or failed
 * request, a run that did not take the path it measures, an exception).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { openDatabase } from '../src/infra/db.js'
import { createLogger } from '../src/infra/logger.js'
import type { DB } from '../src/schema.js'
import { type Figure, fixed, reportFigures, thousands, times } from './lib/figures.js'
import { newCredentials, registerAndLogin, send } from './lib/http.js'
import { mixedLoad } from './lib/mixed-load.js'
import {
  BENCH_NODE_FLAGS,
  Cleanups,
  envInt,
  readCpuSeconds,
  type SatchelProcess,
  startSatchel,
  startScriptServer,
} from './lib/processes.js'
import { seed } from './lib/seed.js'
import { BENCH_METRICS_TOKEN, type ServerStats, scrapeStats } from './lib/server-metrics.js'
import { median, renderTable } from './lib/stats.js'
import { requireWrk, type WrkRun, wrk } from './lib/wrk.js'

const SECONDS = envInt('BENCH_SECONDS', 5)
const ROUNDS = envInt('BENCH_RUNS', 5)
const LIST_FILES = envInt('BENCH_LIST_FILES', 110_000)
const MISS_PAGES = envInt('BENCH_MISS_PAGES', 2000)
const MIXED_SECONDS = envInt('BENCH_MIXED_SECONDS', 45)
const AGED = process.env.BENCH_AGED !== '0'
const WARM_SECONDS = envInt('BENCH_WARM_SECONDS', 5, 0)
const PAUSE_MS = envInt('BENCH_PAUSE_MS', 0, 0)
/** How the runs' output says that they were paced; empty when they were not. */
const PACED = PAUSE_MS > 0 ? `, ${PAUSE_MS} ms pauses per connection` : ''
/** The seeded files' upload times span this many days before now. */
const SPAN_DAYS = 730
/** Walks of the user's pages at once, to gather the cursors sooner. */
const CHAINS = 10
const WARMUP_SECONDS = 2
const CONNECTIONS = 50
const LIMIT = 50
const MIXED_USERS = 4
const MIXED_WORKERS = 8
const SETTLE_MS = 1000
const TIMEOUT_MS = 60_000

const TARGET_CACHED_RATIO = 0.6
const TARGET_CACHED_CPU = 1.6
const TARGET_MISS_US = 200
const TARGET_AGED_CPU = 1.1

const JSON_SERVER = fileURLToPath(new URL('./baseline-json-server.ts', import.meta.url))
const PAGE_SERVER = fileURLToPath(new URL('./baseline-page-server.ts', import.meta.url))
const MiB = 1024 * 1024

const cleanups = new Cleanups()
const problems: string[] = []

type Label = 'bare route' | 'cached' | 'control' | 'cache miss' | 'database floor'

interface Contender {
  label: Label
  pid: number
  url: string
  headers: Record<string, string>
  /** The Satchel process behind it, whose metrics are read around each run. */
  satchel?: SatchelProcess
  /** Paths to take in turn, for the cache-miss runs. */
  paths?: readonly string[]
  /** Whose PostgreSQL backends' CPU to count, for the cache-miss runs. */
  databaseUrl?: string
}

interface Run extends WrkRun {
  /** Satchel's GC time during the run, from its metrics; undefined for the bare route. */
  gcSeconds?: number
  /** V8's young generation at the end of the run. */
  newSpaceBytes?: number
  /** CPU of the PostgreSQL backends serving Satchel's pool, for the cache-miss runs. */
  pgCpuSeconds?: number
}

type Phase = Map<Label, Run[]>

/** The server processes PostgreSQL runs for connections to this database now. */
async function postgresBackends(databaseUrl: string): Promise<number[]> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    )
    return rows.map((row) => row.pid)
  } finally {
    await client.end()
  }
}

/** CPU seconds of these processes so far; one that has exited counts 0 (its share is lost). */
function cpuOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => {
    try {
      return sum + readCpuSeconds(pid)
    } catch {
      return sum
    }
  }, 0)
}

/** Where the next cache-miss run of each contender starts in its list of paths. */
const missPositions = new Map<Label, number>()

async function measure(c: Contender, seconds: number): Promise<Run> {
  const backends = c.databaseUrl ? await postgresBackends(c.databaseUrl) : []
  const before = c.satchel && (await scrapeStats(c.satchel.url))
  const pgBefore = cpuOf(backends)
  // Each run goes on where the last one stopped: starting over would ask again for the pages
  // the last run just put in the cache.
  const missPosition = missPositions.get(c.label) ?? 0
  const paths = c.paths && [...c.paths.slice(missPosition), ...c.paths.slice(0, missPosition)]
  const run: Run = await wrk({
    url: c.url,
    seconds,
    connections: CONNECTIONS,
    headers: c.headers,
    vary: paths && { paths },
    serverPid: c.pid,
    pauseMs: PAUSE_MS,
  })
  if (c.paths) missPositions.set(c.label, (missPosition + run.consumed) % c.paths.length)
  if (c.databaseUrl) run.pgCpuSeconds = Math.max(0, cpuOf(backends) - pgBefore)
  if (c.satchel && before) {
    const after = await scrapeStats(c.satchel.url)
    run.gcSeconds = after.gcSeconds - before.gcSeconds
    run.newSpaceBytes = after.newSpaceBytes
    const misses = after.listMisses - before.listMisses
    const reads = misses + after.listHits - before.listHits
    // A cache-miss run that hits the cache, or a cached run that misses, measures the wrong
    // path. Except once: a cached run starts by loading its page again where the process's
    // cache-miss runs pushed it out (or never read it), and its connections all miss together.
    const wrongPath = c.paths ? reads - misses : misses
    if (wrongPath > 0.01 * reads + (c.paths ? 0 : CONNECTIONS)) {
      problems.push(`${c.label}: ${misses} of ${reads} list reads missed the cache`)
    }
  }
  if (run.errors > 0) problems.push(`${c.label}: ${run.errors} failed requests in one run`)
  return run
}

async function phase(name: string, contenders: Contender[]) {
  for (const c of contenders) await measure(c, WARMUP_SECONDS)
  const runs: Phase = new Map(contenders.map((c) => [c.label, []]))
  for (let i = 0; i < ROUNDS; i++) {
    for (const c of contenders) {
      await sleep(SETTLE_MS)
      const run = await measure(c, SECONDS)
      runs.get(c.label)!.push(run)
      console.error(
        `  ${name} ${i + 1} ${c.label}: ${thousands(run.reqPerSec)} req/s, ` +
          `${fixed(run.cpuUsPerRequest, 0)} µs CPU/req`,
      )
    }
  }
  return runs
}

type WalkedPage = { items: { id: string; created_at: string }[]; next_cursor: string | null }

/** The highest UUID: a keyset that comes after any file uploaded at the same time. */
const LAST_ID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

/**
 * Paths of MISS_PAGES distinct pages of the user's files, newest first, cursor and all:
 * CHAINS walks at once, each from its own `uploaded_before` and on by the pages' cursors.
 * With each, the same page's path on the database floor (bench/baseline-page-server.ts),
 * which takes the keyset itself: the upload time and id of the previous page's last file.
 */
async function pagePaths(satchel: SatchelProcess, authorization: string) {
  const spanMs = SPAN_DAYS * 86_400_000
  const walk = async (chain: number) => {
    const before = new Date(Date.now() - (chain * spanMs) / CHAINS).toISOString()
    const paths = [`/files?limit=${LIMIT}&uploaded_before=${before}`]
    const floorPaths = [`/files?before=${before}&at=${before}&id=${LAST_ID}`]
    while (paths.length < Math.ceil(MISS_PAGES / CHAINS)) {
      const reply = await send(`${satchel.url}${paths.at(-1)}`, {
        headers: { authorization },
        timeoutMs: TIMEOUT_MS,
      })
      const page = reply.json<WalkedPage>()
      if (reply.status !== 200) throw new Error(`walking pages: ${reply.status}`)
      const last = page.items.at(-1)
      if (page.items.length !== LIMIT || !page.next_cursor || !last) {
        throw new Error('too few pages: raise BENCH_LIST_FILES or lower BENCH_MISS_PAGES')
      }
      paths.push(`${paths[0]}&cursor=${page.next_cursor}`)
      floorPaths.push(`/files?before=${before}&at=${last.created_at}&id=${last.id}`)
    }
    return { paths, floorPaths }
  }
  const chains = await Promise.all(Array.from({ length: CHAINS }, (_, chain) => walk(chain)))
  // In the order they were walked: the pages the walk left in the cache come last, and by
  // the time the runs reach them, a cache's worth of other pages has pushed them out.
  const interleave = (pick: (chain: (typeof chains)[number]) => string[]) =>
    pick(chains[0]!).flatMap((_, page) => chains.map((chain) => pick(chain)[page]!))
  return { paths: interleave((c) => c.paths), floorPaths: interleave((c) => c.floorPaths) }
}

/** Seeds the user's files; resolves to the user's id. */
async function seedListUser(satchel: SatchelProcess, authorization: string): Promise<string> {
  const me = await send(`${satchel.url}/me`, { headers: { authorization }, timeoutMs: TIMEOUT_MS })
  if (me.status !== 200) throw new Error(`GET /me: ${me.status}`)
  const ownerId = me.json<{ id: string }>().id
  const logger = createLogger('silent')
  const dataDir = await mkdtemp(join(tmpdir(), 'satchel-bench-seed-'))
  const database = await openDatabase<DB>({ url: satchel.databaseUrl, dataDir, logger })
  try {
    await seed(database.db, {
      users: 0,
      files: LIST_FILES,
      heavyEvery: 1,
      start: new Date(Date.now() - SPAN_DAYS * 86_400_000),
      spanDays: SPAN_DAYS,
      heavyOwnerId: ownerId,
    })
  } finally {
    await database.close()
    await rm(dataDir, { recursive: true, force: true })
  }
  return ownerId
}

/** The floor must send the same files as Satchel for the same page, or it measures another. */
async function expectSamePage(satchelUrl: string, floorUrl: string, authorization: string) {
  const ids = async (url: string, headers: Record<string, string>) => {
    const reply = await send(url, { headers, timeoutMs: TIMEOUT_MS })
    if (reply.status !== 200) throw new Error(`${url}: ${reply.status}`)
    return reply.json<{ items: { id: string }[] }>().items.map((file) => file.id)
  }
  const [own, floor] = await Promise.all([ids(satchelUrl, { authorization }), ids(floorUrl, {})])
  if (own.length !== LIMIT || own.join() !== floor.join()) {
    throw new Error('the database floor does not answer the page Satchel gave')
  }
}

const mib = (bytes: number) => fixed(bytes / MiB, 1)

function printRuns(phases: [string, Phase][]) {
  const rows: string[][] = []
  for (const [name, runs] of phases) {
    for (const [label, list] of runs) {
      list.forEach((run, i) => {
        rows.push([
          `${name} ${i + 1} ${label}`,
          thousands(run.reqPerSec),
          fixed(run.p50, 1),
          fixed(run.p99, 1),
          thousands(run.requests),
          fixed(run.cpuUsPerRequest, 0),
          run.gcSeconds === undefined ? '-' : fixed((1e6 * run.gcSeconds) / run.requests, 1),
          run.newSpaceBytes === undefined ? '-' : mib(run.newSpaceBytes),
          run.pgCpuSeconds === undefined ? '-' : fixed((1e6 * run.pgCpuSeconds) / run.requests, 0),
        ])
      })
    }
  }
  console.log(
    renderTable(
      [
        'run',
        'req/s',
        'p50 ms',
        'p99 ms',
        'requests',
        'CPU µs/req',
        'GC µs/req',
        'young MiB',
        'pg µs/req',
      ],
      rows,
    ),
  )
  console.log(
    `(wrk -t2 -c${CONNECTIONS} -d${SECONDS}s${PACED}, rounds alternated after a ${WARMUP_SECONDS} s ` +
      'warm-up each; CPU: the server process, all threads, per request; GC: time Satchel spent ' +
      'in garbage collection per request; young: V8 new space after the run; control: the ' +
      "second Satchel process, which gets only the warm-up's mixed load; pg: the PostgreSQL " +
      "backends serving the run (Satchel's pool, or the floor's); " +
      `wrk and PostgreSQL share the ${availableParallelism()} cores)`,
  )
}

function printMemory(snapshots: [string, ServerStats][]) {
  console.log('\nSatchel memory (GET /metrics of each process)')
  console.log(
    renderTable(
      ['when', 'RSS MiB', 'heap used', 'heap total', 'new space', 'old used', 'external', 'GCs'],
      snapshots.map(([when, m]) => [
        when,
        mib(m.rssBytes),
        mib(m.heapUsedBytes),
        mib(m.heapTotalBytes),
        mib(m.newSpaceBytes),
        mib(m.oldSpaceUsedBytes),
        mib(m.externalBytes),
        thousands(m.gcCount),
      ]),
    ),
  )
}

const medianOf = (runs: Run[], pick: (run: Run) => number) => median(runs.map(pick))

/** The median over a phase's rounds of the cached page's CPU per request over the control's. */
function pairedRatio(runs: Phase): number {
  const control = runs.get('control')!
  return median(
    runs.get('cached')!.map((run, i) => run.cpuUsPerRequest / control[i]!.cpuUsPerRequest),
  )
}

/**
 * The lowest and highest of the rounds' CPU ratios, each cached run over the bare route's run
 * just before it: on a shared machine they spread by more than the target's margin, and a
 * verdict on the medians is only as firm as this range says.
 */
function roundRange(runs: Phase): string {
  const bare = runs.get('bare route')!
  const ratios = runs.get('cached')!.map((run, i) => run.cpuUsPerRequest / bare[i]!.cpuUsPerRequest)
  return `${fixed(Math.min(...ratios), 2)}–${fixed(Math.max(...ratios), 2)}×`
}

function summarize(runs: Phase) {
  const of = (label: Label) => ({
    rate: medianOf(runs.get(label)!, (r) => r.reqPerSec),
    cpu: medianOf(runs.get(label)!, (r) => r.cpuUsPerRequest),
  })
  return {
    bare: of('bare route'),
    cached: of('cached'),
    control: of('control'),
    miss: of('cache miss'),
    floor: of('database floor'),
  }
}

function figures(fresh: Phase, aged?: Phase): Figure[] {
  const out: Figure[] = []
  const listFigures = (phase: Phase, when: string) => {
    const s = summarize(phase)
    const rateRatio = s.cached.rate / s.bare.rate
    const cpuRatio = s.cached.cpu / s.bare.cpu
    out.push({
      figure: `GET /files cached page, wrk -c${CONNECTIONS} (${when}${PACED})`,
      satchel: `${thousands(s.cached.rate)} req/s`,
      baseline: `bare Fastify ${thousands(s.bare.rate)} req/s`,
      ratio: times(rateRatio),
      cpu: `${fixed(s.cached.cpu, 0)} / ${fixed(s.bare.cpu, 0)} µs/req (${times(cpuRatio)}; rounds ${roundRange(phase)})`,
      target: `≥ ${TARGET_CACHED_RATIO}×, CPU ≤ ${TARGET_CACHED_CPU}×`,
      pass: rateRatio >= TARGET_CACHED_RATIO && cpuRatio <= TARGET_CACHED_CPU,
    })
    out.push({
      figure: `GET /files cache miss, ${LIMIT}-row page, cursors varied (${when}${PACED})`,
      satchel: `${thousands(s.miss.rate)} req/s`,
      baseline: `Fastify + pg, same SQL ${thousands(s.floor.rate)} req/s`,
      ratio: times(s.miss.rate / s.floor.rate),
      cpu: `${fixed(s.miss.cpu, 0)} / ${fixed(s.floor.cpu, 0)} µs/page (${times(s.miss.cpu / s.floor.cpu)})`,
      target: `CPU ≤ ${TARGET_MISS_US} µs/page`,
      pass: s.miss.cpu <= TARGET_MISS_US,
    })
  }
  listFigures(fresh, 'fresh')
  if (!aged) return out
  listFigures(aged, 'after mixed load')
  const before = summarize(fresh)
  const after = summarize(aged)
  // Against the control in the same round, run right after it: on a shared machine the CPU
  // per request drifts between rounds by more than the aging to measure (docs/benchmarks.md).
  const aging = pairedRatio(aged) / pairedRatio(fresh)
  out.push({
    figure: 'GET /files cached page: after mixed load vs fresh, same process',
    satchel: `${fixed(after.cached.cpu, 0)} µs/req after`,
    baseline: `${fixed(before.cached.cpu, 0)} µs/req fresh`,
    ratio: times(aging),
    cpu: `control: ${fixed(after.control.cpu, 0)} / ${fixed(before.control.cpu, 0)} µs/req`,
    target: `≤ ${TARGET_AGED_CPU}× (vs control, paired)`,
    pass: aging <= TARGET_AGED_CPU,
  })
  return out
}

async function main() {
  requireWrk()
  console.log(`Satchel GET /files benchmark (node ${process.version})`)
  const dir = await mkdtemp(join(tmpdir(), 'satchel-bench-api-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const satchelEnv = {
    RATE_LIMIT_PER_MINUTE: '100000000',
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
  }
  const satchel = await startSatchel(satchelEnv, cleanups, { nodeFlags: BENCH_NODE_FLAGS })
  const authorization = await registerAndLogin(satchel.url, newCredentials('bench-list'))
  let started = performance.now()
  const ownerId = await seedListUser(satchel, authorization)
  const elapsed = () => `${fixed((performance.now() - started) / 1000)} s`
  console.error(`seeded ${thousands(LIST_FILES)} files for the listing user in ${elapsed()}`)
  started = performance.now()
  const { paths, floorPaths } = await pagePaths(satchel, authorization)
  const firstPage = `/files?limit=${LIMIT}`
  console.error(`walked ${MISS_PAGES} pages for their cursors in ${elapsed()}`)

  const first = await send(`${satchel.url}${firstPage}`, {
    headers: { authorization },
    timeoutMs: TIMEOUT_MS,
  })
  const bodyFile = join(dir, 'list-body.json')
  await writeFile(bodyFile, first.body)
  const baseline = await startScriptServer(
    'JSON baseline',
    JSON_SERVER,
    { BENCH_BODY_FILE: bodyFile },
    cleanups,
  )
  const echoed = await send(`${baseline.url}${firstPage}`, { timeoutMs: TIMEOUT_MS })
  if (echoed.status !== 200 || !echoed.body.equals(first.body)) {
    throw new Error('the JSON baseline does not answer the bytes Satchel gave')
  }
  const floor = await startScriptServer(
    'database floor',
    PAGE_SERVER,
    { DATABASE_URL: satchel.databaseUrl, BENCH_OWNER_ID: ownerId },
    cleanups,
  )
  // The first walk's second page: one reached by a cursor.
  await expectSamePage(satchel.url + paths[CHAINS], floor.url + floorPaths[CHAINS], authorization)
  // The control: another instance on the same database, same secret, so the same token.
  const control = await startSatchel(satchelEnv, cleanups, { sharing: satchel })
  const auth = { authorization }
  const contenders: Contender[] = [
    { label: 'bare route', pid: baseline.pid, url: `${baseline.url}${firstPage}`, headers: {} },
    {
      label: 'cached',
      pid: satchel.pid,
      url: `${satchel.url}${firstPage}`,
      headers: auth,
      satchel,
    },
    {
      label: 'control',
      pid: control.pid,
      url: `${control.url}${firstPage}`,
      headers: auth,
      satchel: control,
    },
    {
      label: 'cache miss',
      pid: satchel.pid,
      url: `${satchel.url}${firstPage}`,
      headers: auth,
      satchel,
      paths,
      databaseUrl: satchel.databaseUrl,
    },
    {
      label: 'database floor',
      pid: floor.pid,
      url: floor.url,
      headers: {},
      paths: floorPaths,
      databaseUrl: satchel.databaseUrl,
    },
  ]
  console.log(
    `page: ${LIMIT} of ${thousands(LIST_FILES)} files, ${first.body.length} bytes of JSON; ` +
      `cache miss: ${MISS_PAGES} distinct pages`,
  )

  const snapshot = async (when: string) => {
    memory.push([`${when}`, await scrapeStats(satchel.url)])
    memory.push([`${when}, control`, await scrapeStats(control.url)])
  }
  const memory: [string, ServerStats][] = []
  const users = await Promise.all(
    Array.from({ length: MIXED_USERS }, () =>
      registerAndLogin(satchel.url, newCredentials('bench-mixed')),
    ),
  )
  const load = async (url: string, seconds: number, seed: number, what: string) => {
    console.error(`${what}: ${seconds} s, ${MIXED_WORKERS} at once, ${users.length} users…`)
    const result = await mixedLoad({ url, users, seconds, workers: MIXED_WORKERS, seed })
    const counts = [...result.operations].map(([op, n]) => `${op} ${n}`).join(', ')
    console.log(`${what}: ${fixed(result.seconds, 0)} s, ${counts}`)
    for (const failure of result.failures) problems.push(`${what}: ${failure}`)
  }
  if (WARM_SECONDS > 0) {
    await load(satchel.url, WARM_SECONDS, 17, 'warm-up, Satchel')
    await load(control.url, WARM_SECONDS, 17, 'warm-up, control')
  }
  await snapshot('fresh')
  const fresh = await phase('fresh', contenders)
  await snapshot('after fresh runs')
  let aged: Phase | undefined
  if (AGED) {
    await load(satchel.url, MIXED_SECONDS, 18, 'mixed load')
    await snapshot('after mixed load')
    aged = await phase('aged', contenders)
    await snapshot('after aged runs')
  }

  console.log()
  printRuns(
    aged
      ? [
          ['fresh', fresh],
          ['aged', aged],
        ]
      : [['fresh', fresh]],
  )
  printMemory(memory)
  reportFigures('api', figures(fresh, aged))
  if (problems.length > 0) {
    console.log('\nerrors during the run:')
    for (const problem of problems) console.log(`  ${problem}`)
    process.exitCode = 1
  }
}

await cleanups.runMain('bench', main)
