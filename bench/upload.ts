/**
 * Upload throughput and server memory: Satchel's POST /upload against a bare Node server that
 * only writes the body to disk and fdatasyncs it, both measured in one run on this machine.
 * The machine is noisy (see /work/shared/TOOLCHAIN.md), so only figures from the same run,
 * alternated, are comparable.
 *
 *   npx tsx bench/upload.ts [MiB]     (or BENCH_UPLOAD_MB=…; default 1024)
 *
 * Needs PostgreSQL as the tests do (TEST_PG_URL, default postgres://postgres@127.0.0.1:5432).
 * Exits 0 whether or not the targets are met; non-zero only when something failed.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { availableParallelism, cpus, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { generatedBytes, httpRequest } from '../test/helpers/multipart.js'
import { multipartUpload, post } from './lib/http.js'
import {
  Cleanups,
  startSatchel as launchSatchel,
  readCpuSeconds,
  readRssKiB,
  sampleRss,
  startScriptServer,
} from './lib/processes.js'

const MiB = 1024 * 1024
const RUNS = 3
const SAMPLE_INTERVAL_MS = 50
// Lets the previous run's writeback and GC settle so "idle" is idle.
const SETTLE_MS = 1000
// Loads lazily imported code paths (multipart parser, content sniffing) before anything is
// timed, so the first measured run is not the only one paying for them.
const WARMUP_BYTES = 16 * MiB
const REQUEST_TIMEOUT_MS = 10 * 60_000
const TARGET_RATIO = 0.8
const TARGET_GROWTH_MiB = 100

const BASELINE_SERVER = fileURLToPath(new URL('./baseline-disk-server.ts', import.meta.url))

interface Contender {
  label: string
  pid: number
  /** Sends `bytes` of payload; resolves once the server has answered that they are stored. */
  upload(bytes: number): Promise<void>
  /** Removes what the last upload stored, so the disk never holds more than one upload. */
  discard(): Promise<void>
}

interface Run {
  seconds: number
  /** User + system CPU time of the server process during the upload, all its threads. */
  cpuSeconds: number
  idleKiB: number
  peakKiB: number
  samples: number
}

const cleanups = new Cleanups()

function payloadMiB(): number {
  const raw = process.argv[2] ?? process.env.BENCH_UPLOAD_MB ?? '1024'
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`upload size must be a whole number of MiB ≥ 1 (got ${JSON.stringify(raw)})`)
  }
  return value
}

async function measure(contender: Contender, bytes: number): Promise<Run> {
  await sleep(SETTLE_MS)
  const idleKiB = readRssKiB(contender.pid)
  const cpuBefore = readCpuSeconds(contender.pid)
  const sampler = sampleRss(contender.pid, SAMPLE_INTERVAL_MS)
  const started = performance.now()
  await contender.upload(bytes)
  const seconds = (performance.now() - started) / 1000
  const cpuSeconds = readCpuSeconds(contender.pid) - cpuBefore
  const { peakKiB, samples } = await sampler.stop()
  await contender.discard()
  return { seconds, cpuSeconds, idleKiB, peakKiB: Math.max(peakKiB, idleKiB), samples }
}

function expectStored(label: string, result: { status: number; text: string }, bytes: number) {
  if (result.status !== 201) throw new Error(`${label}: expected 201, got ${result.status}`)
  const reply = JSON.parse(result.text) as { id?: string; size?: number }
  if (reply.size !== bytes) {
    throw new Error(`${label}: stored ${reply.size} bytes, sent ${bytes}`)
  }
  return reply
}

async function startBaseline(): Promise<Contender> {
  const dir = await mkdtemp(join(tmpdir(), 'satchel-bench-baseline-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  const { url, pid } = await startScriptServer(
    'baseline',
    BASELINE_SERVER,
    { BENCH_DIR: dir },
    cleanups,
  )
  return {
    label: 'baseline',
    pid,
    async upload(bytes) {
      const headers = {
        'content-type': 'application/octet-stream',
        'content-length': String(bytes),
      }
      expectStored(
        'baseline',
        await post(`${url}/`, headers, generatedBytes(bytes), REQUEST_TIMEOUT_MS),
        bytes,
      )
    },
    async discard() {
      for (const name of await readdir(dir)) await rm(join(dir, name))
    },
  }
}

async function startSatchel(): Promise<Contender> {
  const { url, pid } = await launchSatchel({}, cleanups)

  const credentials = {
    email: `bench-${randomBytes(4).toString('hex')}@example.test`,
    password: 'correct horse battery staple',
  }
  const json = { 'content-type': 'application/json' }
  const registered = await httpRequest(`${url}/register`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify(credentials),
  })
  if (registered.status !== 201)
    throw new Error(`register: ${registered.status} ${registered.body}`)
  const login = await httpRequest(`${url}/login`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify(credentials),
  })
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.body}`)
  const authorization = `Bearer ${login.json<{ access_token: string }>().access_token}`

  let lastId: string | undefined
  return {
    label: 'satchel',
    pid,
    async upload(bytes) {
      const { contentType, length, body } = multipartUpload(bytes)
      const headers = {
        authorization,
        'content-type': contentType,
        'content-length': String(length),
      }
      lastId = expectStored(
        'satchel',
        await post(`${url}/upload`, headers, body, REQUEST_TIMEOUT_MS),
        bytes,
      ).id
    },
    async discard() {
      if (!lastId) return
      const deleted = await httpRequest(`${url}/files/${lastId}`, {
        method: 'DELETE',
        headers: { authorization },
      })
      if (deleted.status !== 204) throw new Error(`delete: ${deleted.status} ${deleted.body}`)
      lastId = undefined
    },
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const mbps = (bytes: number, run: Run) => bytes / run.seconds / 1e6
const mibps = (bytes: number, run: Run) => bytes / run.seconds / MiB
const mib = (kib: number) => kib / 1024
const cell = (value: number | string, width: number, digits = 1) =>
  (typeof value === 'number' ? value.toFixed(digits) : value).padStart(width)

function printReport(bytes: number, results: Map<string, Run[]>) {
  console.log('\nper run (CPU: server process user+system seconds during the upload; RSS in MiB)')
  console.log(
    `${'run'.padEnd(4)}${'server'.padEnd(10)}${cell('seconds', 8)}${cell('MB/s', 9)}${cell('MiB/s', 9)}` +
      `${cell('CPU s', 8)}${cell('idle', 9)}${cell('peak', 9)}${cell('growth', 9)}${cell('samples', 9)}`,
  )
  for (let i = 0; i < RUNS; i++) {
    for (const [label, runs] of results) {
      const run = runs[i]!
      console.log(
        `${String(i + 1).padEnd(4)}${label.padEnd(10)}${cell(run.seconds, 8, 2)}` +
          `${cell(mbps(bytes, run), 9)}${cell(mibps(bytes, run), 9)}` +
          `${cell(run.cpuSeconds, 8, 2)}${cell(mib(run.idleKiB), 9)}${cell(mib(run.peakKiB), 9)}` +
          `${cell(mib(run.peakKiB - run.idleKiB), 9)}${cell(run.samples, 9, 0)}`,
      )
    }
  }

  console.log(
    `\nsummary over ${RUNS} runs (MB = 10^6 bytes; median CPU s; RSS in MiB: median idle, worst peak and growth)`,
  )
  console.log(
    `${'server'.padEnd(10)}${cell('median MB/s', 12)}${cell('MiB/s', 8)}${cell('min–max MB/s', 16)}` +
      `${cell('CPU s', 8)}${cell('idle', 8)}${cell('peak', 8)}${cell('growth', 8)}`,
  )
  const medians = new Map<string, number>()
  const growths = new Map<string, number>()
  for (const [label, runs] of results) {
    const rates = runs.map((run) => mbps(bytes, run))
    const medianRate = median(rates)
    medians.set(label, medianRate)
    const growth = Math.max(...runs.map((run) => mib(run.peakKiB - run.idleKiB)))
    growths.set(label, growth)
    console.log(
      `${label.padEnd(10)}${cell(medianRate, 12)}${cell(median(runs.map((run) => mibps(bytes, run))), 8)}` +
        `${cell(`${Math.min(...rates).toFixed(1)}–${Math.max(...rates).toFixed(1)}`, 16)}` +
        `${cell(median(runs.map((run) => run.cpuSeconds)), 8, 2)}` +
        `${cell(median(runs.map((run) => mib(run.idleKiB))), 8)}` +
        `${cell(Math.max(...runs.map((run) => mib(run.peakKiB))), 8)}${cell(growth, 8)}`,
    )
  }
  const ratio = medians.get('satchel')! / medians.get('baseline')!
  console.log(`satchel/baseline (medians): ${ratio.toFixed(2)}×`)

  const growth = growths.get('satchel')!
  const targets: Array<[string, string, boolean]> = [
    [`throughput ≥ ${TARGET_RATIO}× baseline`, `${ratio.toFixed(2)}×`, ratio >= TARGET_RATIO],
    [
      `peak RSS ≤ idle + ${TARGET_GROWTH_MiB} MiB`,
      `+${growth.toFixed(1)} MiB (worst run)`,
      growth <= TARGET_GROWTH_MiB,
    ],
  ]
  console.log('\ntargets (Satchel)')
  for (const [target, measured, met] of targets) {
    console.log(`  ${target.padEnd(30)}${measured.padEnd(24)}${met ? 'PASS' : 'FAIL'}`)
  }
}

async function main() {
  const sizeMiB = payloadMiB()
  const bytes = sizeMiB * MiB
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  console.log('Satchel upload benchmark')
  console.log(
    `machine: nproc ${availableParallelism()}, node ${process.version}, ${cpu}, ` +
      `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
  )
  console.log(
    `payload: ${sizeMiB} MiB (${(bytes / 1e6).toFixed(1)} MB) per upload, generated on the fly; ` +
      `${RUNS} runs each, alternating; RSS of the server process sampled every ${SAMPLE_INTERVAL_MS} ms`,
  )
  console.log(
    'baseline: node:http → fs.createWriteStream → fdatasync → 201; ' +
      'satchel: POST /upload (multipart), PostgreSQL, local storage',
  )

  const contenders = [await startBaseline(), await startSatchel()]
  for (const contender of contenders) {
    await contender.upload(WARMUP_BYTES)
    await contender.discard()
  }
  const results = new Map<string, Run[]>(contenders.map((c) => [c.label, []]))
  for (let i = 0; i < RUNS; i++) {
    for (const contender of contenders) {
      const run = await measure(contender, bytes)
      results.get(contender.label)!.push(run)
      process.stderr.write(
        `  run ${i + 1} ${contender.label}: ${mbps(bytes, run).toFixed(1)} MB/s\n`,
      )
    }
  }
  printReport(bytes, results)
}

await cleanups.runMain('bench', main)
