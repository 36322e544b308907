import { readFileSync } from 'node:fs'
import { type Kysely, sql } from 'kysely'
import { FilesRepository } from '../../src/files/files-repository.js'
import type { DB } from '../../src/schema.js'
import { readCpuSeconds } from './processes.js'
import type { Shape } from './search-shapes.js'
import { formatMs, median, renderTable, type Summary, summarize } from './stats.js'

interface LoadOptions {
  /** Query streams running at once, each waiting for its answer before the next query. */
  concurrency: number
  /** Queries in the whole run, shared out over the streams. */
  queries: number
}

interface LoadResult {
  concurrency: number
  queries: number
  seconds: number
  latency: Summary
  samples: number[]
  byShape: Map<string, number[]>
  /** CPU of this process (the service's side: query building, row parsing) per query. */
  nodeCpuUs: number
  /** CPU of the PostgreSQL backends serving this database per query; undefined without /proc. */
  pgCpuUs: number | undefined
}

/**
 * Runs `shapes` as `concurrency` closed-loop streams through one FilesRepository on `db`
 * (the pool the service would use), each stream taking the shapes in turn from its own
 * starting point so different shapes overlap, and each query its own parameters.
 */
async function runStreams(
  db: Kysely<DB>,
  shapes: readonly Shape[],
  { concurrency, queries }: LoadOptions,
): Promise<LoadResult> {
  const repo = new FilesRepository(db)
  const perStream = Math.ceil(queries / concurrency)
  const byShape = new Map<string, number[]>(shapes.map((s) => [s.key, []]))
  const samples: number[] = []
  const stream = async (s: number, count: number, record: boolean) => {
    for (let q = 0; q < count; q++) {
      const shape = shapes[(s + q) % shapes.length]!
      const started = performance.now()
      await shape.run(repo, s * perStream + q)
      const ms = performance.now() - started
      if (!record) continue
      samples.push(ms)
      byShape.get(shape.key)!.push(ms)
    }
  }
  const streams = (count: number, record: boolean) =>
    Promise.all(Array.from({ length: concurrency }, (_, s) => stream(s, count, record)))
  // Every shape once per stream, unmeasured: it opens the backends measured below.
  await streams(shapes.length, false)

  const pgBefore = backendCpu(await backendPids(db))
  const nodeBefore = process.cpuUsage()
  const started = performance.now()
  await streams(perStream, true)
  const seconds = (performance.now() - started) / 1000
  const node = process.cpuUsage(nodeBefore)
  const pgSeconds = cpuBetween(pgBefore, backendCpu(await backendPids(db)))
  const count = samples.length
  return {
    concurrency,
    queries: count,
    seconds,
    latency: summarize(samples),
    samples,
    byShape,
    nodeCpuUs: (node.user + node.system) / count,
    pgCpuUs: pgSeconds === undefined ? undefined : (pgSeconds * 1e6) / count,
  }
}

/** runStreams at each level in turn, `rounds` times over, so noise falls on all alike. */
export async function alternateStreams(
  db: Kysely<DB>,
  shapes: readonly Shape[],
  options: { levels: readonly number[]; rounds: number; queries: number },
): Promise<Map<number, LoadResult[]>> {
  const runs = new Map<number, LoadResult[]>(options.levels.map((level) => [level, []]))
  for (let round = 1; round <= options.rounds; round++) {
    for (const concurrency of options.levels) {
      const run = await runStreams(db, shapes, { concurrency, queries: options.queries })
      runs.get(concurrency)!.push(run)
      process.stderr.write(
        `  round ${round}, ${concurrency} at once: p95 ${formatMs(run.latency.p95)} ms\n`,
      )
    }
  }
  return runs
}

/**
 * Each run, then each level over all rounds (percentiles over every sample, medians of the
 * rates and CPU), then each shape's p50/p95 per level. Returns each level's latencies over
 * all rounds, and the median of its rounds' p95s: a round that other work on the machine
 * slowed moves it least.
 */
export function printStreams(
  runs: Map<number, LoadResult[]>,
  shapes: readonly Shape[],
  title: string,
): Map<number, { pooled: Summary; medianP95: number }> {
  const cpu = (us: number | undefined) => (us === undefined ? '-' : us.toFixed(0))
  const rows: string[][] = []
  const levels = new Map<number, { pooled: Summary; medianP95: number }>()
  for (const [concurrency, list] of runs) {
    list.forEach((run, index) => {
      rows.push([
        `round ${index + 1}, ${concurrency} at once`,
        (run.queries / run.seconds).toFixed(0),
        formatMs(run.latency.p50),
        formatMs(run.latency.p95),
        formatMs(run.latency.p99),
        cpu(run.nodeCpuUs),
        cpu(run.pgCpuUs),
      ])
    })
    const all = summarize(list.flatMap((run) => run.samples))
    levels.set(concurrency, {
      pooled: all,
      medianP95: median(list.map((run) => run.latency.p95)),
    })
    const pg = list.map((run) => run.pgCpuUs)
    rows.push([
      `all rounds, ${concurrency} at once`,
      median(list.map((run) => run.queries / run.seconds)).toFixed(0),
      formatMs(all.p50),
      formatMs(all.p95),
      formatMs(all.p99),
      cpu(median(list.map((run) => run.nodeCpuUs))),
      cpu(pg.includes(undefined) ? undefined : median(pg as number[])),
    ])
  }
  const header = ['q/s', 'p50 ms', 'p95 ms', 'p99 ms', 'node µs/q', 'pg µs/q']
  console.log(renderTable([`mix of ${shapes.length} shapes (${title})`, ...header], rows))
  console.log(
    '(all rounds: percentiles over every sample, medians of q/s and CPU; CPU per query: ' +
      'this process, which builds the queries and parses the rows, and the PostgreSQL backends)',
  )
  const shapeRows = shapes.map((shape) => {
    const cells = [...runs.keys()].flatMap((level) => {
      const s = summarize(runs.get(level)!.flatMap((run) => run.byShape.get(shape.key)!))
      return [formatMs(s.p50), formatMs(s.p95)]
    })
    return [`${shape.key} ${shape.label}`, ...cells]
  })
  const shapeHeader = [...runs.keys()].flatMap((level) => [`${level}: p50`, `${level}: p95`])
  console.log(`\n${renderTable(['shape', ...shapeHeader], shapeRows)}`)
  return levels
}

async function backendPids(db: Kysely<DB>): Promise<number[]> {
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_stat_activity
    where datname = current_database() and backend_type = 'client backend'
  `.execute(db)
  return rows.map((r) => r.pid)
}

/**
 * CPU seconds of each backend, by pid; undefined when the server is not on this host (a
 * remote server's pid may name an unrelated local process, hence the name check). A backend
 * gone meanwhile (the pool closes idle connections) is left out.
 */
function backendCpu(pids: readonly number[]): Map<number, number> | undefined {
  const seconds = new Map<number, number>()
  for (const pid of pids) {
    let comm: string
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    } catch {
      continue
    }
    if (comm !== 'postgres') return undefined
    seconds.set(pid, readCpuSeconds(pid))
  }
  return seconds
}

/** CPU the backends used between two readings; one opened meanwhile counts from zero. */
function cpuBetween(
  before: Map<number, number> | undefined,
  after: Map<number, number> | undefined,
): number | undefined {
  if (!before || !after) return undefined
  let total = 0
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0)
  return total
}
