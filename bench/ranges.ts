/**
 * Ranged downloads under wrk: `Range: bytes=a-b` requests of BENCH_RANGE_MB MiB (default 8)
 * at random offsets of a BENCH_RANGE_FILE_MB MiB file (default 256), over 4 keep-alive
 * connections, from three servers in their own processes, alternated in BENCH_RUNS rounds
 * (default 3) of BENCH_SECONDS (default 5):
 *
 *   - the bare range server (bench/baseline-range-server.ts): node:http and
 *     fs.createReadStream({ start, end }) on the same bytes;
 *   - Satchel, GET /files/:id/content, PostgreSQL, local storage, encryption off;
 *   - Satchel as above with ENCRYPTION_KEY set, the file uploaded encrypted.
 *
 * Targets: plain Satchel ≥ 0.8× the bare server's MB/s; encrypted ≥ 0.6× plain. The
 * server's CPU (/proc/PID/stat, all threads) is reported per GiB sent. Before measuring, one
 * range from each server is checked against the file's own bytes.
 *
 *   npx tsx bench/ranges.ts
 *
 * To profile both Satchels: BENCH_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (see
 * startSatchel). Needs wrk (`apt-get install wrk`), curl and PostgreSQL as the tests do
 * (TEST_PG_URL).
 * Exits 0 whether or not the targets are met; 1 when something failed.
 */
import { createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { generateKeyRingValue } from '../src/storage/key-ring.js'
import { generatedBytes } from '../test/helpers/multipart.js'
import { curlUpload } from './lib/curl.js'
import { type Figure, fixed, reportFigures, times } from './lib/figures.js'
import { newCredentials, registerAndLogin, send } from './lib/http.js'
import {
  BENCH_NODE_FLAGS,
  Cleanups,
  envInt,
  startSatchel,
  startScriptServer,
} from './lib/processes.js'
import { median, renderTable } from './lib/stats.js'
import { requireWrk, type WrkRun, wrk } from './lib/wrk.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const FILE_BYTES = envInt('BENCH_RANGE_FILE_MB', 256) * MiB
const RANGE_BYTES = Math.min(envInt('BENCH_RANGE_MB', 8) * MiB, FILE_BYTES)
const SECONDS = envInt('BENCH_SECONDS', 5)
const RUNS = envInt('BENCH_RUNS', 3)
const CONNECTIONS = 4
const WARMUP_SECONDS = 2
const SETTLE_MS = 1000
const TARGET_PLAIN = 0.8
const TARGET_ENCRYPTED = 0.6

const RANGE_SERVER = fileURLToPath(new URL('./baseline-range-server.ts', import.meta.url))

const cleanups = new Cleanups()

type Label = 'bare server' | 'satchel' | 'satchel encrypted'

interface Contender {
  label: Label
  pid: number
  url: string
  headers: Record<string, string>
}

async function satchel(label: Label, env: Record<string, string>, path: string) {
  // Rate limits counted but never reached.
  const limits = { RATE_LIMIT_PER_MINUTE: '100000000', AUTH_RATE_LIMIT_PER_MINUTE: '100000' }
  const { url, pid } = await startSatchel({ ...limits, ...env }, cleanups, {
    nodeFlags: BENCH_NODE_FLAGS,
  })
  const authorization = await registerAndLogin(url, newCredentials('bench-ranges'))
  const reply = await curlUpload(`${url}/upload`, path, { authorization })
  if (reply.status !== 201) throw new Error(`${label} upload: ${reply.status} ${reply.body}`)
  const { id } = JSON.parse(reply.body) as { id: string }
  return { label, pid, url: `${url}/files/${id}/content`, headers: { authorization } }
}

/** One range from the server, compared with the same bytes read from the file. */
async function checkRange(c: Contender, path: string) {
  const start = FILE_BYTES - RANGE_BYTES - 12345
  const expected = Buffer.alloc(RANGE_BYTES)
  const file = await open(path)
  try {
    await file.read(expected, 0, RANGE_BYTES, start)
  } finally {
    await file.close()
  }
  const reply = await send(c.url, {
    headers: { ...c.headers, range: `bytes=${start}-${start + RANGE_BYTES - 1}` },
    timeoutMs: 60_000,
  })
  const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
  if (reply.status !== 206 || digest(reply.body) !== digest(expected)) {
    throw new Error(`${c.label}: range ${start}: ${reply.status}, not the file's bytes`)
  }
}

const rate = (run: WrkRun) => run.bytes / run.seconds / 1e6
const cpuPerGiB = (run: WrkRun) => (run.cpuSeconds * GiB) / run.bytes

function report(results: Map<Label, WrkRun[]>): Figure[] {
  const rows: string[][] = []
  for (let i = 0; i < RUNS; i++) {
    for (const [label, runs] of results) {
      const run = runs[i]!
      rows.push([
        `${i + 1} ${label}`,
        fixed(rate(run)),
        fixed(run.p50, 0),
        fixed(run.p99, 0),
        `${run.requests}`,
        fixed(cpuPerGiB(run), 2),
      ])
    }
  }
  const summary = new Map<Label, { rate: number; cpu: number }>()
  for (const [label, runs] of results) {
    const s = { rate: median(runs.map(rate)), cpu: median(runs.map(cpuPerGiB)) }
    summary.set(label, s)
    rows.push([`median ${label}`, fixed(s.rate), '', '', '', fixed(s.cpu, 2)])
  }
  console.log(
    `\n${RANGE_BYTES / MiB} MiB ranges at random offsets of a ${FILE_BYTES / MiB} MiB file, ` +
      `wrk -c${CONNECTIONS} -d${SECONDS}s, ${RUNS} rounds alternated (MB = 10^6 bytes; CPU: ` +
      'the server process, all threads, per GiB sent)',
  )
  console.log(renderTable(['run', 'MB/s', 'p50 ms', 'p99 ms', 'ranges', 'CPU s/GiB'], rows))

  const bare = summary.get('bare server')!
  const plain = summary.get('satchel')!
  const encrypted = summary.get('satchel encrypted')!
  const cpu = (a: { cpu: number }, b: { cpu: number }) =>
    `${fixed(a.cpu, 2)} / ${fixed(b.cpu, 2)} s/GiB (${times(a.cpu / b.cpu)})`
  const what = `GET /files/:id/content, ${RANGE_BYTES / MiB} MiB ranges, wrk -c${CONNECTIONS}`
  return [
    {
      figure: what,
      satchel: `${fixed(plain.rate, 0)} MB/s`,
      baseline: `bare createReadStream server ${fixed(bare.rate, 0)} MB/s`,
      ratio: times(plain.rate / bare.rate),
      cpu: cpu(plain, bare),
      target: `≥ ${TARGET_PLAIN}×`,
      pass: plain.rate / bare.rate >= TARGET_PLAIN,
    },
    {
      figure: `${what}, encrypted at rest`,
      satchel: `${fixed(encrypted.rate, 0)} MB/s`,
      baseline: `plain Satchel ${fixed(plain.rate, 0)} MB/s`,
      ratio: times(encrypted.rate / plain.rate),
      cpu: cpu(encrypted, plain),
      target: `≥ ${TARGET_ENCRYPTED}×`,
      pass: encrypted.rate / plain.rate >= TARGET_ENCRYPTED,
    },
  ]
}

async function main() {
  requireWrk()
  console.log(`Satchel ranged download benchmark (node ${process.version})`)
  const dir = await mkdtemp(join(tmpdir(), 'satchel-bench-ranges-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const path = join(dir, 'file.bin')
  await pipeline(generatedBytes(FILE_BYTES), createWriteStream(path))

  const bare = await startScriptServer(
    'range baseline',
    RANGE_SERVER,
    { BENCH_FILE: path },
    cleanups,
  )
  const contenders: Contender[] = [
    { label: 'bare server', pid: bare.pid, url: `${bare.url}/`, headers: {} },
    await satchel('satchel', {}, path),
    await satchel('satchel encrypted', { ENCRYPTION_KEY: generateKeyRingValue() }, path),
  ]
  for (const c of contenders) await checkRange(c, path)

  const measure = (c: Contender, seconds: number, seed: number) =>
    wrk({
      url: c.url,
      seconds,
      connections: CONNECTIONS,
      headers: c.headers,
      vary: { rangeBytes: RANGE_BYTES, fileBytes: FILE_BYTES, seed },
      serverPid: c.pid,
      timeoutSeconds: 30,
    })
  for (const c of contenders) await measure(c, WARMUP_SECONDS, 0)
  const results = new Map<Label, WrkRun[]>(contenders.map((c) => [c.label, []]))
  for (let i = 0; i < RUNS; i++) {
    for (const c of contenders) {
      await sleep(SETTLE_MS)
      // The same offsets for every server in a round.
      const run = await measure(c, SECONDS, i + 1)
      if (run.errors > 0) throw new Error(`${c.label}: ${run.errors} failed ranges`)
      results.get(c.label)!.push(run)
      process.stderr.write(
        `  run ${i + 1} ${c.label}: ${fixed(rate(run))} MB/s, ${fixed(cpuPerGiB(run), 2)} s CPU/GiB\n`,
      )
    }
  }
  reportFigures('ranges', report(results))
}

await cleanups.runMain('bench', main)
