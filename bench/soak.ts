/**
 * Soak test: Satchel in its own process on PostgreSQL, under a steady mixed load from a few
 * simulated users for SOAK_SECONDS, watching for errors and for memory or descriptors that
 * keep growing. Every answer is checked (status, and bytes against what was uploaded).
 *
 *   npx tsx bench/soak.ts                     # 10 minutes
 *   SOAK_SECONDS=60 npx tsx bench/soak.ts     # a quick check
 *
 * Environment (all optional): SOAK_SECONDS (600), SOAK_USERS (5), SOAK_RATE (30 operations a
 * second, all users together; an operation is one to three requests).
 * Needs PostgreSQL as the tests do (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432).
 *
 * The verdict: no errors (an unexpected status, any 5xx, a network error or wrong bytes), and
 * Satchel's RSS and open descriptors flat: measured with the load paused and client
 * connections closed, once after the warm-up and once at the end, the RSS may grow by at most
 * 50 MiB and the descriptors other than the database pool's connections (bounded by the pool
 * size, and idling out after 30 s) by at most 20%. Exits 1 when requests failed, 0 otherwise.
 */
import { createCipheriv, createHash, randomBytes, randomInt } from 'node:crypto'
import { Agent } from 'node:http'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Credentials, multipartBuffer, newCredentials, type Reply, send } from './lib/http.js'
import {
  Cleanups,
  countConnectionsTo,
  countOpenFds,
  envInt,
  readRssKiB,
  type SatchelProcess,
  startSatchel,
} from './lib/processes.js'
import { VOCABULARY } from './lib/seed.js'
import { formatMs, renderTable, summarize } from './lib/stats.js'

const SECONDS = envInt('SOAK_SECONDS', 600)
const USERS = envInt('SOAK_USERS', 5)
const RATE = envInt('SOAK_RATE', 30)
/** Long enough for JIT, pools and caches to fill, short enough to leave most of the run. */
const WARMUP_SECONDS = Math.min(60, Math.max(5, Math.round(SECONDS * 0.1)))
const SAMPLE_EVERY_MS = 5000
const QUIET_MS = 1500
const PAUSE_TIMEOUT_MS = 60_000
const REQUEST_TIMEOUT_MS = 30_000
const RELOGIN_AFTER_MS = 5 * 60_000
const MIN_FILES = 3
const MAX_FILES = 30
const SMALL = [1024, 64 * 1024] as const
const MEDIUM = [512 * 1024, 4 * 1024 * 1024] as const
const EXPIRING_SECONDS = 15
const SWEEP_INTERVAL_SECONDS = '10'
const TARGET_RSS_GROWTH_MiB = 50
const TARGET_FD_GROWTH = 0.2

const EXTENSIONS = ['pdf', 'jpg', 'png', 'txt', 'mp4', 'zip', 'csv', 'docx', 'mp3', 'bin']
const CATEGORIES = ['image', 'video', 'audio'] as const

const cleanups = new Cleanups()

// ---------------------------------------------------------------------------------------------
// Bookkeeping

const latencies = new Map<string, number[]>()
const statuses = new Map<string, Map<string, number>>()
const errors = new Map<string, number>()
const errorSamples: string[] = []
let requests = 0
let inFlight = 0

function count<K>(map: Map<K, number>, key: K) {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function fail(op: string, what: string, detail = '') {
  count(errors, `${op}: ${what}`)
  if (errorSamples.length < 10) {
    errorSamples.push(`${new Date().toISOString()} ${op}: ${what} ${detail}`.trim())
  }
}

/** Client connections, replaced (all sockets closed) around each resource measurement. */
let agent = new Agent({ keepAlive: true, maxSockets: 2 * USERS })
cleanups.push(async () => agent.destroy())

/**
 * One request, timed under `op`. Returns the reply when its status is one of `expected`;
 * otherwise records an error and returns undefined.
 */
async function call(
  op: string,
  expected: number | readonly number[],
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Reply | undefined> {
  const started = performance.now()
  requests += 1
  inFlight += 1
  try {
    const reply = await send(url, { ...options, agent, timeoutMs: REQUEST_TIMEOUT_MS })
    const ms = performance.now() - started
    if (!latencies.has(op)) latencies.set(op, [])
    latencies.get(op)!.push(ms)
    if (!statuses.has(op)) statuses.set(op, new Map())
    count(statuses.get(op)!, String(reply.status))
    if (!(Array.isArray(expected) ? expected : [expected]).includes(reply.status)) {
      fail(op, `HTTP ${reply.status}`, reply.body.subarray(0, 200).toString())
      return undefined
    }
    return reply
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code
    fail(op, `network error ${code ?? (error as Error)?.message ?? String(error)}`)
    return undefined
  } finally {
    inFlight -= 1
  }
}

function check(op: string, ok: boolean, what: string) {
  if (!ok) fail(op, `wrong answer: ${what}`)
  return ok
}

// ---------------------------------------------------------------------------------------------
// Simulated users

interface SoakFile {
  id: string
  name: string
  size: number
  sha256: string
  /** The content is the AES-CTR keystream of this key: regenerated for checks, never kept. */
  seed: Buffer
  expiresAt?: number
  sharePath?: string
}

interface User {
  credentials: Credentials
  authorization: string
  loggedInAt: number
  files: SoakFile[]
  cursor?: string | null
}

function contentOf(seed: Buffer, size: number): Buffer {
  return createCipheriv('aes-128-ctr', seed, Buffer.alloc(16)).update(Buffer.alloc(size))
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const pick = <T>(values: readonly T[]): T => values[randomInt(values.length)]!
const json = { 'content-type': 'application/json' }

function usable(user: User): SoakFile[] {
  // A file about to expire might vanish between choosing it and asking for it.
  const soon = Date.now() + 5000
  return user.files.filter((f) => f.expiresAt === undefined || f.expiresAt > soon)
}

async function login(base: string, user: User) {
  const reply = await call('login', 200, `${base}/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify(user.credentials),
  })
  if (!reply) return
  user.authorization = `Bearer ${reply.json<{ access_token: string }>().access_token}`
  user.loggedInAt = Date.now()
}

async function register(base: string) {
  const credentials = newCredentials('soak-extra')
  const body = JSON.stringify(credentials)
  if (!(await call('register', 201, `${base}/register`, { method: 'POST', headers: json, body })))
    return
  const reply = await call('login', 200, `${base}/login`, { method: 'POST', headers: json, body })
  if (!reply) return
  const token = reply.json<{ access_token: string }>().access_token
  const me = await call('me', 200, `${base}/me`, { headers: { authorization: `Bearer ${token}` } })
  if (me) check('me', me.json<{ email?: string }>().email === credentials.email, 'email')
}

async function upload(base: string, user: User, range: readonly [number, number]) {
  const op = range === MEDIUM ? 'upload medium' : 'upload small'
  const size = randomInt(range[0], range[1] + 1)
  const seed = randomBytes(16)
  const content = contentOf(seed, size)
  const name = `${pick(VOCABULARY)}-${pick(VOCABULARY)}-${randomInt(10_000)}.${pick(EXTENSIONS)}`
  const expiring = range === SMALL && randomInt(8) === 0
  const { contentType, length, body } = multipartBuffer(content, name)
  const reply = await call(
    op,
    201,
    `${base}/upload${expiring ? `?expires_in=${EXPIRING_SECONDS}` : ''}`,
    {
      method: 'POST',
      headers: {
        authorization: user.authorization,
        'content-type': contentType,
        'content-length': String(length),
      },
      body,
    },
  )
  if (!reply) return
  const stored = reply.json<{ id: string; size: number; sha256: string; name: string }>()
  const hash = sha256(content)
  if (!check(op, stored.size === size && stored.sha256 === hash, 'size or sha256')) return
  user.files.push({
    id: stored.id,
    name: stored.name,
    size,
    sha256: hash,
    seed,
    expiresAt: expiring ? Date.now() + EXPIRING_SECONDS * 1000 : undefined,
  })
}

async function list(base: string, user: User) {
  const cursor =
    user.cursor && randomInt(2) === 0 ? `&cursor=${encodeURIComponent(user.cursor)}` : ''
  const reply = await call('list', 200, `${base}/files?limit=20${cursor}`, {
    headers: { authorization: user.authorization },
  })
  if (!reply) return
  const page = reply.json<{ items: unknown[]; next_cursor: string | null }>()
  check('list', Array.isArray(page.items) && page.items.length <= 20, 'items')
  user.cursor = page.next_cursor
}

async function search(base: string, user: User) {
  const headers = { authorization: user.authorization }
  if (randomInt(2) === 0) {
    const words = usable(user).map((f) => f.name.split('-')[0]!)
    const q = words.length > 0 && randomInt(4) > 0 ? pick(words) : pick(VOCABULARY)
    const reply = await call('search q', 200, `${base}/search?q=${encodeURIComponent(q)}`, {
      headers,
    })
    if (!reply) return
    const items = reply.json<{ items: { name: string }[] }>().items
    check(
      'search q',
      items.every((item) => item.name.toLowerCase().includes(q.toLowerCase())),
      `a name without "${q}"`,
    )
  } else {
    const type = pick(CATEGORIES)
    const reply = await call('search type', 200, `${base}/files?type=${type}&limit=20`, {
      headers,
    })
    if (!reply) return
    const items = reply.json<{ items: { content_type: string }[] }>().items
    check(
      'search type',
      items.every((item) => item.content_type.startsWith(`${type}/`)),
      `a type outside ${type}`,
    )
  }
}

async function metadata(base: string, user: User, file: SoakFile) {
  const reply = await call('metadata', 200, `${base}/files/${file.id}`, {
    headers: { authorization: user.authorization },
  })
  if (reply) check('metadata', reply.json<{ sha256?: string }>().sha256 === file.sha256, 'sha256')
}

async function download(base: string, user: User, file: SoakFile) {
  const reply = await call('download', 200, `${base}/files/${file.id}/content`, {
    headers: { authorization: user.authorization },
  })
  if (reply) check('download', sha256(reply.body) === file.sha256, 'sha256 of the body')
}

async function downloadRange(base: string, user: User, file: SoakFile) {
  if (file.size === 0) return
  const start = randomInt(file.size)
  const end = Math.min(file.size - 1, start + randomInt(256 * 1024))
  const reply = await call('download range', 206, `${base}/files/${file.id}/content`, {
    headers: { authorization: user.authorization, range: `bytes=${start}-${end}` },
  })
  if (!reply) return
  const expected = contentOf(file.seed, end + 1).subarray(start)
  check('download range', reply.body.equals(expected), `bytes ${start}-${end}`)
}

async function share(base: string, user: User, file: SoakFile) {
  const created = await call('share create', 201, `${base}/files/${file.id}/shares`, {
    method: 'POST',
    headers: { authorization: user.authorization, ...json },
    body: '{}',
  })
  if (!created) return
  // The link names the configured public base; the path is what matters here.
  const path = new URL(created.json<{ url: string }>().url).pathname
  file.sharePath = path
  const reply = await call('share download', 200, `${base}${path}`)
  if (reply) check('share download', sha256(reply.body) === file.sha256, 'sha256 of the body')
}

async function remove(base: string, user: User, file: SoakFile) {
  user.files = user.files.filter((f) => f !== file)
  const headers = { authorization: user.authorization }
  if (!(await call('delete', 204, `${base}/files/${file.id}`, { method: 'DELETE', headers })))
    return
  // Gone at once, for the owner and for the link.
  await call('after delete (404)', 404, `${base}/files/${file.id}`, { headers })
  if (file.sharePath) await call('after delete (404)', 404, `${base}${file.sharePath}`)
}

/** Files whose expiry has passed are gone (every read checks expiry, the sweeper or not). */
async function checkExpired(base: string, user: User) {
  const file = user.files.find((f) => f.expiresAt !== undefined && f.expiresAt < Date.now() - 1000)
  if (!file) return false
  user.files = user.files.filter((f) => f !== file)
  await call('after expiry (404)', 404, `${base}/files/${file.id}/content`, {
    headers: { authorization: user.authorization },
  })
  return true
}

const WEIGHTS: readonly [string, number][] = [
  ['list', 18],
  ['search', 14],
  ['metadata', 6],
  ['download', 12],
  ['download range', 12],
  ['upload small', 12],
  ['upload medium', 3],
  ['share', 7],
  ['delete', 8],
  ['login', 3],
  ['register', 1],
]
const TOTAL_WEIGHT = WEIGHTS.reduce((sum, [, w]) => sum + w, 0)

function chooseOperation(user: User): string {
  if (usable(user).length < MIN_FILES) return 'upload small'
  if (user.files.length >= MAX_FILES) return 'delete'
  if (Date.now() - user.loggedInAt > RELOGIN_AFTER_MS) return 'login'
  let roll = randomInt(TOTAL_WEIGHT)
  for (const [op, weight] of WEIGHTS) {
    roll -= weight
    if (roll < 0) return op
  }
  return 'list'
}

async function operate(base: string, user: User) {
  if (await checkExpired(base, user)) return
  const op = chooseOperation(user)
  // chooseOperation asks for uploads until MIN_FILES are usable: the others always get a file.
  const candidates = usable(user)
  const file = candidates.length > 0 ? pick(candidates) : undefined
  if (!file && !['upload small', 'upload medium', 'login', 'register'].includes(op)) {
    throw new Error(`no file for ${op}`)
  }
  switch (op) {
    case 'list':
      return list(base, user)
    case 'search':
      return search(base, user)
    case 'metadata':
      return metadata(base, user, file!)
    case 'download':
      return download(base, user, file!)
    case 'download range':
      return downloadRange(base, user, file!)
    case 'upload small':
      return upload(base, user, SMALL)
    case 'upload medium':
      return upload(base, user, MEDIUM)
    case 'share':
      return share(base, user, file!)
    case 'delete':
      return remove(base, user, file!)
    case 'login':
      return login(base, user)
    default:
      return register(base)
  }
}

// ---------------------------------------------------------------------------------------------
// Load, pauses and resource samples

/** Set while the load is paused; users wait on it before their next operation. */
let paused: Promise<void> | undefined
let busy = 0

async function runUser(base: string, user: User, index: number, deadline: number) {
  const interval = (1000 * USERS) / RATE
  const maxOperations = Math.ceil((SECONDS * 1000) / interval) + 10
  // Spread the users over one interval, so they do not all fire at once.
  let next = performance.now() + (interval * index) / USERS
  for (let i = 0; i < maxOperations; i++) {
    if (paused) await paused
    const wait = next - performance.now()
    if (wait > 0) await sleep(wait)
    if (Date.now() >= deadline) return
    if (paused) continue
    busy += 1
    try {
      await operate(base, user)
    } finally {
      busy -= 1
    }
    next += interval
    // Behind schedule (slow answers, a pause): carry on at the rate, without a burst.
    if (next < performance.now() - interval) next = performance.now()
  }
}

interface Sample {
  at: number
  rssKiB: number
  fds: number
  /** Of `fds`, the connections of Satchel's PostgreSQL pool (up to its size, 10; they idle out). */
  dbFds: number
  requests: number
}

function sample(satchel: SatchelProcess, startedAt: number): Sample {
  return {
    at: (Date.now() - startedAt) / 1000,
    rssKiB: readRssKiB(satchel.pid),
    fds: countOpenFds(satchel.pid),
    dbFds: countConnectionsTo(satchel.pid, Number(new URL(satchel.databaseUrl).port || 5432)),
    requests,
  }
}

/**
 * Stops the load, closes the client's connections and lets the server settle, then samples:
 * the same quiet state at the start and at the end, so in-flight requests do not count.
 */
async function quietSample(satchel: SatchelProcess, startedAt: number): Promise<Sample> {
  const deadline = Date.now() + PAUSE_TIMEOUT_MS
  while ((busy > 0 || inFlight > 0) && Date.now() < deadline) await sleep(20)
  agent.destroy()
  agent = new Agent({ keepAlive: true, maxSockets: 2 * USERS })
  await sleep(QUIET_MS)
  return sample(satchel, startedAt)
}

function serverLogProblems(output: string) {
  const lines = output.split('\n').filter((line) => line.trim() !== '')
  const serious = lines.filter((line) => {
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 50
    } catch {
      return true
    }
  })
  return { lines: lines.length, serious }
}

// ---------------------------------------------------------------------------------------------

const mib = (kib: number) => (kib / 1024).toFixed(1)

function report(
  seconds: number,
  start: Sample,
  end: Sample,
  timeline: readonly Sample[],
  log: { lines: number; serious: string[] },
) {
  const opRows = [...latencies]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([op, samples]) => {
      const s = summarize(samples)
      const codes = [...statuses.get(op)!]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([status, n]) => `${status}×${n}`)
        .join(' ')
      return [op, String(s.n), formatMs(s.p50), formatMs(s.p99), formatMs(s.max), codes]
    })
  console.log(
    `\n${requests.toLocaleString('en')} requests in ${seconds.toFixed(0)} s ` +
      `(${(requests / seconds).toFixed(1)} req/s); latency per operation`,
  )
  console.log(renderTable(['operation', 'n', 'p50 ms', 'p99 ms', 'max ms', 'statuses'], opRows))

  const errorCount = [...errors.values()].reduce((a, b) => a + b, 0)
  console.log(`\nerrors: ${errorCount}`)
  for (const [what, n] of errors) console.log(`  ${n}× ${what}`)
  for (const line of errorSamples) console.log(`  e.g. ${line}`)
  console.log(
    `server log (LOG_LEVEL=warn): ${log.lines} lines, ${log.serious.length} at error or above`,
  )
  for (const line of log.serious.slice(0, 5)) console.log(`  ${line.slice(0, 300)}`)

  const step = Math.max(1, Math.ceil(timeline.length / 12))
  const shown = timeline.filter((_, i) => i % step === 0 || i === timeline.length - 1)
  console.log(`\nSatchel process under load (sampled every ${SAMPLE_EVERY_MS / 1000} s)`)
  console.log(
    renderTable(
      ['at s', 'RSS MiB', 'open fds', 'of which db', 'requests'],
      shown.map((s) => [
        s.at.toFixed(0),
        mib(s.rssKiB),
        String(s.fds),
        String(s.dbFds),
        String(s.requests),
      ]),
    ),
  )
  const peak = Math.max(...timeline.map((s) => s.rssKiB), start.rssKiB, end.rssKiB)
  console.log(`peak RSS ${mib(peak)} MiB`)

  console.log('\nresources, load paused and client connections closed')
  console.log(
    renderTable(
      ['when', 'at s', 'RSS MiB', 'open fds', 'of which db', 'other fds'],
      [start, end].map((s, i) => [
        i === 0 ? 'after warm-up' : 'end',
        s.at.toFixed(0),
        mib(s.rssKiB),
        String(s.fds),
        String(s.dbFds),
        String(s.fds - s.dbFds),
      ]),
    ),
  )
  const growthMiB = (end.rssKiB - start.rssKiB) / 1024
  // The database pool grows to its size under load and shrinks when idle (30 s): it is bounded
  // by design, so it is left out; every other descriptor counts.
  const otherFds = (s: Sample) => s.fds - s.dbFds
  const fdLimit = Math.ceil(otherFds(start) * (1 + TARGET_FD_GROWTH))
  const verdicts: [string, string, boolean][] = [
    ['errors = 0', String(errorCount), errorCount === 0],
    [
      `RSS end ≤ start + ${TARGET_RSS_GROWTH_MiB} MiB`,
      `${growthMiB >= 0 ? '+' : ''}${growthMiB.toFixed(1)} MiB`,
      growthMiB <= TARGET_RSS_GROWTH_MiB,
    ],
    [
      `open fds besides db end ≤ start + ${TARGET_FD_GROWTH * 100}% (≤ ${fdLimit})`,
      `${otherFds(start)} → ${otherFds(end)} (db ${start.dbFds} → ${end.dbFds})`,
      otherFds(end) <= fdLimit,
    ],
  ]
  console.log('\nverdict')
  console.log(
    renderTable(
      ['check', 'measured', 'verdict'],
      verdicts.map(([what, measured, ok]) => [what, measured, ok ? 'PASS' : 'FAIL']),
      3,
    ),
  )
  console.log(verdicts.every(([, , ok]) => ok) ? 'soak: PASS' : 'soak: FAIL')
  return errorCount
}

async function main() {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  console.log('Satchel soak test')
  console.log(
    `machine: nproc ${availableParallelism()}, node ${process.version}, ${cpu}, ` +
      `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
  )
  console.log(
    `load: ${SECONDS} s (first ${WARMUP_SECONDS} s warm-up), ${USERS} users, ` +
      `${RATE} operations/s in all (list, search q/type, metadata, download full and range, ` +
      'upload 1–64 KiB and 0.5–4 MiB, 1 in 8 small ones expiring, share + public download, ' +
      'delete, login, register)',
  )
  console.log(
    'satchel: child process as `npm start` (the build), PostgreSQL, local storage, LOG_LEVEL=warn, ' +
      `encryption off, SWEEP_INTERVAL_SECONDS=${SWEEP_INTERVAL_SECONDS}, rate limits raised ` +
      '(RATE_LIMIT_PER_MINUTE=100000, AUTH_RATE_LIMIT_PER_MINUTE=10000)',
  )
  const satchel = await startSatchel(
    {
      RATE_LIMIT_PER_MINUTE: '100000',
      AUTH_RATE_LIMIT_PER_MINUTE: '10000',
      SWEEP_INTERVAL_SECONDS,
    },
    cleanups,
  )
  const base = satchel.url

  const users: User[] = []
  for (let i = 0; i < USERS; i++) {
    const credentials = newCredentials(`soak-${i}`)
    const registered = await send(`${base}/register`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify(credentials),
      timeoutMs: REQUEST_TIMEOUT_MS,
    })
    if (registered.status !== 201) throw new Error(`register: ${registered.status}`)
    const user: User = { credentials, authorization: '', loggedInAt: 0, files: [] }
    await login(base, user)
    if (!user.authorization) throw new Error('the first login failed')
    users.push(user)
  }

  const startedAt = Date.now()
  const deadline = startedAt + SECONDS * 1000
  const timeline: Sample[] = [sample(satchel, startedAt)]
  const sampler = setInterval(() => {
    try {
      timeline.push(sample(satchel, startedAt))
    } catch {
      // The process is gone; the requests will say so.
    }
  }, SAMPLE_EVERY_MS)
  let start: Sample | undefined
  const warmedUp = (async () => {
    await sleep(Math.min(WARMUP_SECONDS * 1000, deadline - Date.now()))
    let resume!: () => void
    paused = new Promise((resolve) => {
      resume = resolve
    })
    start = await quietSample(satchel, startedAt)
    process.stderr.write(
      `after warm-up: RSS ${mib(start.rssKiB)} MiB, ${start.fds} fds (${start.dbFds} db), ` +
        `${requests} requests\n`,
    )
    paused = undefined
    resume()
  })()
  const progress = setInterval(() => {
    const elapsed = (Date.now() - startedAt) / 1000
    const errorCount = [...errors.values()].reduce((a, b) => a + b, 0)
    process.stderr.write(`  ${elapsed.toFixed(0)} s: ${requests} requests, ${errorCount} errors\n`)
  }, 30_000)
  try {
    await Promise.all([warmedUp, ...users.map((user, i) => runUser(base, user, i, deadline))])
  } finally {
    clearInterval(progress)
    clearInterval(sampler)
  }
  const seconds = (Date.now() - startedAt) / 1000
  const end = await quietSample(satchel, startedAt)
  agent.destroy()
  if (satchel.child.exitCode !== null) throw new Error(`satchel exited:\n${satchel.output()}`)
  const errorCount = report(seconds, start!, end, timeline, serverLogProblems(satchel.output()))
  if (errorCount > 0) process.exitCode = 1
}

await cleanups.runMain('soak', main)
