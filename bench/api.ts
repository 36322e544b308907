/**
 * Satchel's HTTP API under load, each figure beside a bare server measured in the same run on
 * this machine (the machine is noisy, see /work/shared/TOOLCHAIN.md: only figures from one
 * run, alternated, compare). Satchel runs as `npm start` would, in its own process, on
 * PostgreSQL and local storage, encryption off; each baseline in a process of its own.
 *
 *   a. GET /files?limit=50 (a user with 60 files), autocannon -c 50 -d BENCH_SECONDS, against
 *      a bare Fastify route answering the same bytes. Targets: ≥ 0.4× its req/s, p99 ≤ 20 ms.
 *      Also measured: a second Satchel with REDIS_URL, as each of several instances runs.
 *   b. GET /files/:id/content with 8 MiB Range requests at random offsets of a 256 MiB file,
 *      a few clients at once, against node:http + fs.createReadStream({ start, end }) on a
 *      copy of the same bytes. Target: ≥ 0.8× its MB/s.
 *   c. 100 concurrent streamed 10 MB uploads: errors (target 0), time, MB/s, peak RSS.
 *
 *   npx tsx bench/api.ts
 *
 * Environment (all optional): BENCH_PARTS (abc) which of a, b and c to run, BENCH_SECONDS (10) per autocannon run, BENCH_RUNS (3) alternated
 * runs of a and b, BENCH_RANGE_FILE_MB (256), BENCH_RANGE_MB (8), BENCH_RANGE_TOTAL_MB (4096)
 * per run, BENCH_RANGE_CLIENTS (4), BENCH_CONCURRENT_UPLOADS (100) and
 * BENCH_CONCURRENT_UPLOAD_MB (10, in 10^6 bytes).
 * Needs PostgreSQL as the tests do (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432).
 * Exits 0 whether or not the targets are met; non-zero only when something failed: an
 * exception, a refused or failed request during a measurement, or bytes that do not match.
 */
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { Agent, type IncomingMessage, request } from 'node:http'
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import autocannon from 'autocannon'
import pg from 'pg'
import {
  multipartBuffer,
  multipartUpload,
  newCredentials,
  post,
  registerAndLogin,
  send,
} from './lib/http.js'
import {
  Cleanups,
  envInt,
  readCpuSeconds,
  readRssKiB,
  type SatchelProcess,
  sampleRss,
  startSatchel,
  startScriptServer,
} from './lib/processes.js'
import { renderTable } from './lib/stats.js'

const MiB = 1024 * 1024
const MB = 1e6

const PARTS = new Set((process.env.BENCH_PARTS ?? 'abc').split(''))
const SECONDS = envInt('BENCH_SECONDS', 10)
const RUNS = envInt('BENCH_RUNS', 3)
const CONNECTIONS = 50
const WARMUP_SECONDS = Math.min(3, SECONDS)
const LIST_FILES = 60
const LIST_LIMIT = 50

const RANGE_FILE_BYTES = envInt('BENCH_RANGE_FILE_MB', 256) * MiB
const RANGE_BYTES = Math.min(envInt('BENCH_RANGE_MB', 8) * MiB, RANGE_FILE_BYTES)
const RANGE_TOTAL_BYTES = envInt('BENCH_RANGE_TOTAL_MB', 4096) * MiB
const RANGE_CLIENTS = envInt('BENCH_RANGE_CLIENTS', 4)
const RANGES_PER_RUN = Math.ceil(RANGE_TOTAL_BYTES / RANGE_BYTES)

const UPLOADS = envInt('BENCH_CONCURRENT_UPLOADS', 100)
const UPLOAD_BYTES = envInt('BENCH_CONCURRENT_UPLOAD_MB', 10) * MB
const UPLOAD_USERS = 5
const SAMPLE_INTERVAL_MS = 50
const SETTLE_MS = 1000

const REQUEST_TIMEOUT_MS = 5 * 60_000
const TARGET_LIST_RATIO = 0.4
const TARGET_LIST_P99_MS = 20
const TARGET_RANGE_RATIO = 0.8

const JSON_SERVER = fileURLToPath(new URL('./baseline-json-server.ts', import.meta.url))
const RANGE_SERVER = fileURLToPath(new URL('./baseline-range-server.ts', import.meta.url))

const cleanups = new Cleanups()
/** Whatever went wrong during a measurement; the run still reports, then exits 1. */
const problems: string[] = []

interface Contender {
  label: string
  pid: number
  url: string
  headers: Record<string, string>
  databaseUrl?: string
}

interface Target {
  target: string
  measured: string
  met: boolean
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const fixed = (value: number, digits = 1) => value.toFixed(digits)
const thousands = (value: number) => Math.round(value).toLocaleString('en')
const verdict = (met: boolean) => (met ? 'PASS' : 'FAIL')
/** autocannon records latency in whole milliseconds. */
const wholeMs = (ms: number) => (ms < 1 ? '<1' : ms.toFixed(0))

/** Same seed, same numbers: both contenders get the same ranges in a run. */
function mulberry32(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// ---------------------------------------------------------------------------------------------
// a. GET /files?limit=50

interface CannonRun {
  reqPerSec: number
  p50: number
  p99: number
  requests: number
  cpuSeconds: number
  /** CPU of the PostgreSQL backends serving Satchel's pool; undefined for the baseline. */
  dbCpuSeconds?: number
  seconds: number
}

/** The server processes (backends) PostgreSQL runs for connections to this database now. */
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

async function cannon(c: Contender, seconds: number): Promise<CannonRun> {
  // Satchel's pool has its connections open after the warm-up; they are sampled per run.
  const backends = c.databaseUrl ? await postgresBackends(c.databaseUrl) : []
  const cpuBefore = readCpuSeconds(c.pid)
  const dbBefore = cpuOf(backends)
  const result = await autocannon({
    url: c.url,
    connections: CONNECTIONS,
    duration: seconds,
    headers: c.headers,
  })
  const cpuSeconds = readCpuSeconds(c.pid) - cpuBefore
  // A backend that exits (the pool closing idle clients) takes its CPU time with it.
  const dbCpuSeconds = c.databaseUrl ? Math.max(0, cpuOf(backends) - dbBefore) : undefined
  if (result.errors > 0 || result.non2xx > 0) {
    const statuses = Object.entries(result.statusCodeStats ?? {})
      .map(([status, { count }]) => `${status}×${count ?? 0}`)
      .join(' ')
    problems.push(
      `${c.label} GET /files: ${result.errors} connection errors (${result.timeouts} timeouts), ` +
        `${result.non2xx} non-2xx (${statuses})`,
    )
  }
  return {
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    cpuSeconds,
    dbCpuSeconds,
    seconds: result.duration,
  }
}

async function uploadSmallFiles(satchel: SatchelProcess, authorization: string, count: number) {
  const upload = async (i: number) => {
    const name = `list-${String(i).padStart(3, '0')}.txt`
    const { contentType, length, body } = multipartBuffer(randomBytes(1024 + i * 37), name)
    const reply = await send(`${satchel.url}/upload`, {
      method: 'POST',
      headers: { authorization, 'content-type': contentType, 'content-length': String(length) },
      body,
      timeoutMs: REQUEST_TIMEOUT_MS,
    })
    if (reply.status !== 201) throw new Error(`upload ${name}: ${reply.status} ${reply.body}`)
  }
  // Four at a time, in order of index, so created_at follows the names.
  for (let i = 0; i < count; i += 4) {
    await Promise.all(Array.from({ length: Math.min(4, count - i) }, (_, j) => upload(i + j)))
  }
}

interface ListedSatchel {
  label: string
  satchel: SatchelProcess
  authorization: string
}

async function benchList(
  { satchel, authorization }: ListedSatchel,
  dir: string,
  others: ListedSatchel[],
) {
  await uploadSmallFiles(satchel, authorization, LIST_FILES)
  for (const other of others) {
    await uploadSmallFiles(other.satchel, other.authorization, LIST_FILES)
  }
  const path = `/files?limit=${LIST_LIMIT}`
  const sample = await send(`${satchel.url}${path}`, {
    headers: { authorization },
    timeoutMs: REQUEST_TIMEOUT_MS,
  })
  const page = sample.json<{ items: unknown[]; next_cursor: string | null }>()
  if (sample.status !== 200 || page.items.length !== LIST_LIMIT || !page.next_cursor) {
    throw new Error(`GET ${path}: ${sample.status}, ${page.items?.length} items`)
  }
  const bodyFile = join(dir, 'list-body.json')
  await writeFile(bodyFile, sample.body)
  const baseline = await startScriptServer(
    'JSON baseline',
    JSON_SERVER,
    { BENCH_BODY_FILE: bodyFile },
    cleanups,
  )
  const echoed = await send(`${baseline.url}${path}`, { timeoutMs: REQUEST_TIMEOUT_MS })
  if (echoed.status !== 200 || !echoed.body.equals(sample.body)) {
    throw new Error('the JSON baseline does not answer the bytes Satchel gave')
  }
  console.error(
    `a. GET ${path}: ${sample.body.length} byte body; warm-up ${WARMUP_SECONDS} s each, ` +
      `then ${RUNS} × ${SECONDS} s runs alternated`,
  )

  const contenders: Contender[] = [
    { label: 'baseline', pid: baseline.pid, url: `${baseline.url}${path}`, headers: {} },
    {
      label: 'satchel',
      pid: satchel.pid,
      url: `${satchel.url}${path}`,
      headers: { authorization },
      databaseUrl: satchel.databaseUrl,
    },
    ...others.map((other) => ({
      label: other.label,
      pid: other.satchel.pid,
      url: `${other.satchel.url}${path}`,
      headers: { authorization: other.authorization },
      databaseUrl: other.satchel.databaseUrl,
    })),
  ]
  for (const c of contenders) await cannon(c, WARMUP_SECONDS)
  const runs = new Map<string, CannonRun[]>(contenders.map((c) => [c.label, []]))
  for (let i = 0; i < RUNS; i++) {
    for (const c of contenders) {
      await sleep(SETTLE_MS)
      const run = await cannon(c, SECONDS)
      runs.get(c.label)!.push(run)
      console.error(
        `  run ${i + 1} ${c.label}: ${thousands(run.reqPerSec)} req/s, ` +
          `p50 ${wholeMs(run.p50)} ms, p99 ${wholeMs(run.p99)} ms`,
      )
    }
  }
  return { runs, bodyBytes: sample.body.length }
}

function reportList(result: Awaited<ReturnType<typeof benchList>>): Target[] {
  const { runs, bodyBytes } = result
  console.log(
    `\na. GET /files?limit=${LIST_LIMIT} (${bodyBytes} byte JSON body), autocannon ` +
      `-c ${CONNECTIONS} -d ${SECONDS}, ${RUNS} runs alternated after a ${WARMUP_SECONDS} s warm-up each`,
  )
  console.log(
    '   satchel: bearer token, rate limiter counting (limit 10^8/min), list page cache ' +
      '(in process; satchel+redis: counters and list versions in Redis, as several instances ' +
      'run), response schema; baseline: bare Fastify route sending the same bytes',
  )
  const rows: string[][] = []
  for (let i = 0; i < RUNS; i++) {
    for (const [label, list] of runs) {
      const run = list[i]!
      rows.push([
        `${i + 1} ${label}`,
        thousands(run.reqPerSec),
        wholeMs(run.p50),
        wholeMs(run.p99),
        thousands(run.requests),
        `${fixed((100 * run.cpuSeconds) / run.seconds, 0)}%`,
        fixed((1e6 * run.cpuSeconds) / run.requests, 0),
        run.dbCpuSeconds === undefined
          ? '-'
          : `${fixed((100 * run.dbCpuSeconds) / run.seconds, 0)}%`,
        run.dbCpuSeconds === undefined ? '-' : fixed((1e6 * run.dbCpuSeconds) / run.requests, 0),
      ])
    }
  }
  const summary = new Map<string, { reqPerSec: number; p50: number; p99: number }>()
  for (const [label, list] of runs) {
    const s = {
      reqPerSec: median(list.map((r) => r.reqPerSec)),
      p50: median(list.map((r) => r.p50)),
      p99: median(list.map((r) => r.p99)),
    }
    summary.set(label, s)
    rows.push([
      `median ${label}`,
      thousands(s.reqPerSec),
      wholeMs(s.p50),
      wholeMs(s.p99),
      '',
      '',
      '',
      '',
      '',
    ])
  }
  console.log(
    renderTable(
      [
        'run',
        'req/s',
        'p50 ms',
        'p99 ms',
        'requests',
        'server CPU',
        'µs/req',
        'pg CPU',
        'pg µs/req',
      ],
      rows,
    ),
  )
  const satchel = summary.get('satchel')!
  const baseline = summary.get('baseline')!
  const ratio = satchel.reqPerSec / baseline.reqPerSec
  for (const [label, s] of summary) {
    if (label === 'baseline') continue
    console.log(`${label}/baseline (medians): ${fixed(s.reqPerSec / baseline.reqPerSec, 2)}× req/s`)
  }
  console.log(
    '(latency: autocannon, in whole ms; server CPU: the server process, all its threads, in % ' +
      "of one core, and per request; pg: the PostgreSQL backends of Satchel's pool; " +
      `autocannon and PostgreSQL run on the same ${availableParallelism()} cores)`,
  )
  return [
    {
      target: `GET /files req/s ≥ ${TARGET_LIST_RATIO}× bare Fastify`,
      measured: `${fixed(ratio, 2)}× (${thousands(satchel.reqPerSec)} vs ${thousands(baseline.reqPerSec)} req/s)`,
      met: ratio >= TARGET_LIST_RATIO,
    },
    {
      target: `GET /files p99 ≤ ${TARGET_LIST_P99_MS} ms at ${CONNECTIONS} connections`,
      measured: `${wholeMs(satchel.p99)} ms (p50 ${wholeMs(satchel.p50)} ms)`,
      met: satchel.p99 <= TARGET_LIST_P99_MS,
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// b. Range downloads

interface RangeRun {
  bytes: number
  seconds: number
  cpuSeconds: number
}

/** Fetches one range over `agent` and returns its bytes' count, checking status and length. */
function fetchRange(
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  start: number,
  end: number,
  digest?: ReturnType<typeof createHash>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { ...headers, range: `bytes=${start}-${end}` } })
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no progress on ${url}`)))
    req.once('error', reject)
    req.once('response', (res) => {
      if (res.statusCode !== 206) {
        res.resume()
        reject(new Error(`${url} range ${start}-${end}: status ${res.statusCode}`))
        return
      }
      let received = 0
      res.on('data', (chunk: Buffer) => {
        received += chunk.length
        digest?.update(chunk)
      })
      res.once('error', reject)
      res.once('end', () => {
        if (received === end - start + 1) resolve(received)
        else reject(new Error(`${url} range ${start}-${end}: got ${received} bytes`))
      })
    })
    req.end()
  })
}

// Each client is a thread of its own with one keep-alive connection: several sockets read in
// one event loop came out 2-4× slower here than the same sockets in separate threads (curl
// confirmed the servers were not the limit), and would have measured the client.
const RANGE_CLIENT_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { Agent, request } = require('node:http')
const { url, headers, ranges, rangeBytes, timeoutMs, counter } = workerData
const next = new Int32Array(counter)
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
const fetchRange = (start, end) => new Promise((resolve, reject) => {
  const req = request(url, { agent, headers: { ...headers, range: 'bytes=' + start + '-' + end } })
  req.setTimeout(timeoutMs, () => req.destroy(new Error('no progress on ' + url)))
  req.once('error', reject)
  req.once('response', (res) => {
    if (res.statusCode !== 206) {
      res.resume()
      return reject(new Error(url + ' range ' + start + '-' + end + ': status ' + res.statusCode))
    }
    let received = 0
    res.on('data', (chunk) => { received += chunk.length })
    res.once('error', reject)
    res.once('end', () => received === end - start + 1
      ? resolve(received)
      : reject(new Error(url + ' range ' + start + '-' + end + ': got ' + received + ' bytes')))
  })
  req.end()
})
parentPort.once('message', async () => {
  let bytes = 0
  try {
    for (let i = Atomics.add(next, 0, 1); i < ranges.length; i = Atomics.add(next, 0, 1)) {
      bytes += await fetchRange(ranges[i], ranges[i] + rangeBytes - 1)
    }
    parentPort.postMessage({ bytes })
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) })
  } finally {
    agent.destroy()
  }
})
parentPort.postMessage('ready')
`

async function rangeRun(
  pid: number,
  url: string,
  headers: Record<string, string>,
  ranges: readonly number[],
): Promise<RangeRun> {
  const counter = new SharedArrayBuffer(4)
  const workers = Array.from(
    { length: RANGE_CLIENTS },
    () =>
      new Worker(RANGE_CLIENT_SOURCE, {
        eval: true,
        workerData: {
          url,
          headers,
          ranges,
          rangeBytes: RANGE_BYTES,
          timeoutMs: REQUEST_TIMEOUT_MS,
          counter,
        },
      }),
  )
  try {
    const failed = Promise.race(
      workers.map((w) => once(w, 'error').then(([error]) => Promise.reject(error as Error))),
    )
    failed.catch(() => undefined)
    await Promise.race([Promise.all(workers.map((w) => once(w, 'message'))), failed])
    const cpuBefore = readCpuSeconds(pid)
    const started = performance.now()
    const done = Promise.all(
      workers.map((w) => {
        const reply = once(w, 'message').then(([m]) => m as { bytes?: number; error?: string })
        w.postMessage('go')
        return reply
      }),
    )
    const replies = await Promise.race([done, failed])
    const seconds = (performance.now() - started) / 1000
    const cpuSeconds = readCpuSeconds(pid) - cpuBefore
    const error = replies.find((r) => r.error)?.error
    if (error) throw new Error(error)
    const bytes = replies.reduce((sum, r) => sum + (r.bytes ?? 0), 0)
    if (bytes !== ranges.length * RANGE_BYTES) {
      throw new Error(`${url}: ${bytes} bytes for ${ranges.length} ranges`)
    }
    return { bytes, seconds, cpuSeconds }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

function rangeOffsets(seed: number, count: number): number[] {
  const random = mulberry32(seed)
  const span = RANGE_FILE_BYTES - RANGE_BYTES + 1
  return Array.from({ length: count }, () => Math.floor(random() * span))
}

async function benchRanges(satchel: SatchelProcess, authorization: string, dir: string) {
  console.error(`b. uploading the ${RANGE_FILE_BYTES / MiB} MiB file…`)
  const { contentType, length, body } = multipartUpload(RANGE_FILE_BYTES, 'range.bin')
  const stored = await post(
    `${satchel.url}/upload`,
    { authorization, 'content-type': contentType, 'content-length': String(length) },
    body,
    REQUEST_TIMEOUT_MS,
  )
  if (stored.status !== 201) throw new Error(`range upload: ${stored.status} ${stored.text}`)
  const file = JSON.parse(stored.text) as { id: string; size: number; sha256: string }
  if (file.size !== RANGE_FILE_BYTES) throw new Error(`range upload stored ${file.size} bytes`)
  const satchelUrl = `${satchel.url}/files/${file.id}/content`
  const auth = { authorization }

  // The baseline serves a copy of the same bytes, taken through Satchel's own full download.
  const copy = join(dir, 'range.bin')
  const digest = createHash('sha256')
  const full = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(satchelUrl, { headers: auth })
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('no progress on download')))
    req.once('error', reject).once('response', resolve).end()
  })
  if (full.statusCode !== 200) throw new Error(`full download: status ${full.statusCode}`)
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      digest.update(chunk)
      callback(null, chunk)
    },
  })
  await pipeline(full, hashing, createWriteStream(copy))
  if (digest.digest('hex') !== file.sha256) throw new Error('full download: sha256 mismatch')
  const baseline = await startScriptServer(
    'range baseline',
    RANGE_SERVER,
    { BENCH_FILE: copy },
    cleanups,
  )

  // Same range from both, same bytes.
  const probe = rangeOffsets(0, 1)[0]!
  const digests = [createHash('sha256'), createHash('sha256')] as const
  const probeAgent = new Agent({ keepAlive: false })
  await fetchRange(probeAgent, satchelUrl, auth, probe, probe + RANGE_BYTES - 1, digests[0])
  await fetchRange(probeAgent, `${baseline.url}/`, {}, probe, probe + RANGE_BYTES - 1, digests[1])
  if (digests[0].digest('hex') !== digests[1].digest('hex')) {
    throw new Error('satchel and the range baseline sent different bytes for one range')
  }

  const contenders: Contender[] = [
    { label: 'baseline', pid: baseline.pid, url: `${baseline.url}/`, headers: {} },
    { label: 'satchel', pid: satchel.pid, url: satchelUrl, headers: auth },
  ]
  console.error(
    `b. ${RANGES_PER_RUN} ranges of ${RANGE_BYTES / MiB} MiB per run, ${RANGE_CLIENTS} clients, ` +
      `${RUNS} runs alternated`,
  )
  // Warm-up: the whole file through each, so both read from the page cache alike.
  const whole = Array.from({ length: Math.ceil(RANGE_FILE_BYTES / RANGE_BYTES) }, (_, i) =>
    Math.min(i * RANGE_BYTES, RANGE_FILE_BYTES - RANGE_BYTES),
  )
  for (const c of contenders) await rangeRun(c.pid, c.url, c.headers, whole)
  const runs = new Map<string, RangeRun[]>(contenders.map((c) => [c.label, []]))
  for (let i = 0; i < RUNS; i++) {
    const ranges = rangeOffsets(i + 1, RANGES_PER_RUN)
    for (const c of contenders) {
      await sleep(SETTLE_MS)
      const run = await rangeRun(c.pid, c.url, c.headers, ranges)
      runs.get(c.label)!.push(run)
      console.error(`  run ${i + 1} ${c.label}: ${fixed(run.bytes / run.seconds / MB)} MB/s`)
    }
  }
  return runs
}

function reportRanges(runs: Map<string, RangeRun[]>): Target[] {
  console.log(
    `\nb. Range downloads: ${RANGES_PER_RUN} × ${RANGE_BYTES / MiB} MiB ranges at random offsets ` +
      `of a ${RANGE_FILE_BYTES / MiB} MiB file per run, ${RANGE_CLIENTS} keep-alive clients (a thread each), ` +
      `${RUNS} runs alternated (same offsets for both in a run); MB = 10^6 bytes`,
  )
  console.log(
    '   satchel: GET /files/:id/content with the bearer token, local storage, ENCRYPTION OFF ' +
      '(DATABASE_URL set, no ENCRYPTION_KEY); baseline: node:http + fs.createReadStream({start,end}) ' +
      'on a copy of the same bytes',
  )
  const rate = (run: RangeRun) => run.bytes / run.seconds / MB
  const rows: string[][] = []
  for (let i = 0; i < RUNS; i++) {
    for (const [label, list] of runs) {
      const run = list[i]!
      rows.push([
        `${i + 1} ${label}`,
        fixed(rate(run)),
        fixed(run.seconds, 2),
        `${fixed((100 * run.cpuSeconds) / run.seconds, 0)}%`,
      ])
    }
  }
  const medians = new Map<string, number>()
  for (const [label, list] of runs) {
    medians.set(label, median(list.map(rate)))
    rows.push([`median ${label}`, fixed(medians.get(label)!), '', ''])
  }
  console.log(renderTable(['run', 'MB/s', 'seconds', 'server CPU'], rows))
  const ratio = medians.get('satchel')! / medians.get('baseline')!
  console.log(`satchel/baseline (medians): ${fixed(ratio, 2)}×`)
  return [
    {
      target: `Range download MB/s ≥ ${TARGET_RANGE_RATIO}× bare node:http`,
      measured: `${fixed(ratio, 2)}× (${fixed(medians.get('satchel')!, 0)} vs ${fixed(medians.get('baseline')!, 0)} MB/s)`,
      met: ratio >= TARGET_RANGE_RATIO,
    },
  ]
}

// ---------------------------------------------------------------------------------------------
// c. Concurrent uploads

async function benchConcurrentUploads(satchel: SatchelProcess) {
  const users = await Promise.all(
    Array.from({ length: UPLOAD_USERS }, () =>
      registerAndLogin(satchel.url, newCredentials('bench-upload')),
    ),
  )
  console.error(
    `c. ${UPLOADS} concurrent uploads of ${UPLOAD_BYTES / MB} MB from ${users.length} users…`,
  )
  await sleep(SETTLE_MS)
  const idleKiB = readRssKiB(satchel.pid)
  const cpuBefore = readCpuSeconds(satchel.pid)
  const sampler = sampleRss(satchel.pid, SAMPLE_INTERVAL_MS)
  const started = performance.now()
  const outcomes = await Promise.allSettled(
    Array.from({ length: UPLOADS }, async (_, i) => {
      const name = `concurrent-${String(i).padStart(3, '0')}.bin`
      const { contentType, length, body } = multipartUpload(UPLOAD_BYTES, name)
      const reply = await post(
        `${satchel.url}/upload`,
        {
          authorization: users[i % users.length]!,
          'content-type': contentType,
          'content-length': String(length),
        },
        body,
        REQUEST_TIMEOUT_MS,
      )
      if (reply.status !== 201) throw new Error(`status ${reply.status}`)
      const size = (JSON.parse(reply.text) as { size?: number }).size
      if (size !== UPLOAD_BYTES) throw new Error(`stored ${size} bytes`)
    }),
  )
  const seconds = (performance.now() - started) / 1000
  const cpuSeconds = readCpuSeconds(satchel.pid) - cpuBefore
  const { peakKiB, samples } = await sampler.stop()
  const errors = new Map<string, number>()
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') continue
    const reason = (outcome.reason as Error)?.message ?? String(outcome.reason)
    errors.set(reason, (errors.get(reason) ?? 0) + 1)
  }
  const failed = [...errors.values()].reduce((a, b) => a + b, 0)

  // Every upload that answered 201 is listed once, under its owner.
  let listed = 0
  for (const authorization of users) {
    const page = await send(`${satchel.url}/files?limit=1000&q=concurrent-`, {
      headers: { authorization },
      timeoutMs: REQUEST_TIMEOUT_MS,
    })
    if (page.status !== 200) throw new Error(`listing uploads: ${page.status}`)
    listed += page.json<{ items: unknown[] }>().items.length
  }
  if (failed > 0) {
    problems.push(
      `concurrent uploads: ${failed} failed (${[...errors].map(([m, n]) => `${n}× ${m}`).join('; ')})`,
    )
  }
  if (listed !== UPLOADS - failed) {
    problems.push(`concurrent uploads: ${UPLOADS - failed} answered 201, ${listed} listed`)
  }
  return {
    seconds,
    cpuSeconds,
    idleKiB,
    peakKiB: Math.max(peakKiB, idleKiB),
    samples,
    failed,
    errors,
    listed,
  }
}

function reportUploads(result: Awaited<ReturnType<typeof benchConcurrentUploads>>): Target[] {
  const { seconds, cpuSeconds, idleKiB, peakKiB, samples, failed, errors, listed } = result
  const totalMB = (UPLOADS * UPLOAD_BYTES) / MB
  console.log(
    `\nc. ${UPLOADS} concurrent POST /upload of ${UPLOAD_BYTES / MB} MB each (streamed multipart, ` +
      `one connection each, ${UPLOAD_USERS} users), local storage with fsync, encryption off`,
  )
  console.log(
    renderTable(
      ['measure', 'value'],
      [
        ['errors', String(failed)],
        ['listed afterwards', `${listed} of ${UPLOADS}`],
        ['total time', `${fixed(seconds, 2)} s`],
        ['aggregate', `${fixed(totalMB / seconds)} MB/s (${fixed(totalMB)} MB)`],
        [
          'server CPU',
          `${fixed(cpuSeconds, 2)} s (${fixed((100 * cpuSeconds) / seconds, 0)}% of one core)`,
        ],
        ['RSS idle before', `${fixed(idleKiB / 1024)} MiB`],
        [
          'RSS peak',
          `${fixed(peakKiB / 1024)} MiB (+${fixed((peakKiB - idleKiB) / 1024)} MiB; ${samples} samples every ${SAMPLE_INTERVAL_MS} ms)`,
        ],
      ],
      2,
    ),
  )
  for (const [message, count] of errors) console.log(`   ${count}× ${message}`)
  return [
    {
      target: `${UPLOADS} concurrent ${UPLOAD_BYTES / MB} MB uploads: 0 errors`,
      measured: `${failed} errors, ${fixed(seconds, 1)} s, ${fixed(totalMB / seconds, 0)} MB/s, peak RSS ${fixed(peakKiB / 1024, 0)} MiB`,
      met: failed === 0,
    },
  ]
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  console.log('Satchel API benchmark')
  console.log(
    `machine: nproc ${availableParallelism()}, node ${process.version}, ${cpu}, ` +
      `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
  )
  console.log(
    'satchel: child process as `npm start` (tsx), PostgreSQL, local storage, LOG_LEVEL=warn, ' +
      'encryption off, RATE_LIMIT_PER_MINUTE=100000000 and AUTH_RATE_LIMIT_PER_MINUTE=100000 ' +
      '(never refused, still counted); the client runs on the same cores',
  )

  const dir = await mkdtemp(join(tmpdir(), 'satchel-bench-api-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const satchel = await startSatchel(
    { RATE_LIMIT_PER_MINUTE: '100000000', AUTH_RATE_LIMIT_PER_MINUTE: '100000' },
    cleanups,
  )
  const authorization = await registerAndLogin(satchel.url, newCredentials('bench-api'))

  const targets: Target[] = []
  if (PARTS.has('a')) {
    // The same, as one of several instances would run: cache versions and counters in Redis.
    const withRedis = await startSatchel(
      {
        RATE_LIMIT_PER_MINUTE: '100000000',
        AUTH_RATE_LIMIT_PER_MINUTE: '100000',
        REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: `bench-${randomBytes(4).toString('hex')}:`,
      },
      cleanups,
    )
    const others = [
      {
        label: 'satchel+redis',
        satchel: withRedis,
        authorization: await registerAndLogin(withRedis.url, newCredentials('bench-api')),
      },
    ]
    const list = await benchList({ label: 'satchel', satchel, authorization }, dir, others)
    targets.push(...reportList(list))
  }
  if (PARTS.has('b')) targets.push(...reportRanges(await benchRanges(satchel, authorization, dir)))
  if (PARTS.has('c')) targets.push(...reportUploads(await benchConcurrentUploads(satchel)))

  console.log('\ntargets (Satchel)')
  console.log(
    renderTable(
      ['target', 'measured', 'verdict'],
      targets.map((t) => [t.target, t.measured, verdict(t.met)]),
      3,
    ),
  )
  if (problems.length > 0) {
    console.log('\nerrors during the run:')
    for (const problem of problems) console.log(`  ${problem}`)
    process.exitCode = 1
  }
}

await cleanups.runMain('bench', main)
