import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { createTestDatabase } from '../../test/helpers/databases.js'
import { httpRequest } from '../../test/helpers/multipart.js'
import { freePort, runMain } from '../../test/helpers/server-process.js'

export const STARTUP_TIMEOUT_MS = 60_000
export const STOP_TIMEOUT_MS = 15_000

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Resources released in reverse order of acquisition, on success, failure or Ctrl-C. */
export class Cleanups {
  readonly #steps: Array<() => Promise<unknown>> = []

  push(step: () => Promise<unknown>) {
    this.#steps.push(step)
  }

  async run() {
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!
      await step().catch((error: unknown) => {
        process.stderr.write(`cleanup failed: ${(error as Error)?.stack ?? String(error)}\n`)
      })
    }
  }

  /**
   * Runs a bench's `main`, then these cleanups, also on Ctrl-C (exit 130); a failure is
   * printed as "`name` failed" and makes the exit code 1.
   */
  async runMain(name: string, main: () => Promise<void>) {
    process.once('SIGINT', () => {
      void this.run().finally(() => process.exit(130))
    })
    try {
      await main()
    } catch (error) {
      process.stderr.write(`${name} failed: ${(error as Error)?.stack ?? String(error)}\n`)
      process.exitCode = 1
    } finally {
      await this.run()
    }
  }
}

/** SIGTERM, then SIGKILL if the child has not exited within STOP_TIMEOUT_MS. */
export async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

export function readRssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  if (!match) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1])
}

/** Open file descriptors of a process: files, sockets, pipes, epoll and event fds. */
export function countOpenFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/**
 * How many of a process's descriptors are TCP connections to `remotePort` (e.g. its database
 * pool), matched by socket inode in /proc/net/tcp{,6}.
 */
export function countConnectionsTo(pid: number, remotePort: number): number {
  const port = remotePort.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // fields: sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (fields[2]?.endsWith(`:${port}`) && fields[9]) inodes.add(fields[9])
    }
  }
  let count = 0
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))
      if (match && inodes.has(match[1]!)) count += 1
    } catch {
      // Closed between the listing and the read.
    }
  }
  return count
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** User + system CPU seconds the process has used so far, all its threads. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses; the rest cannot.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  return (utime + stime) / CLOCK_TICKS
}

// Sampling runs on its own thread: the client's event loop is busy pushing bodies, and
// timers there would drift and miss short peaks.
const SAMPLER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { readFileSync } = require('node:fs')
let peak = 0
let samples = 0
const sample = () => {
  const match = /^VmRSS:\\s+(\\d+) kB$/m.exec(readFileSync('/proc/' + workerData.pid + '/status', 'utf8'))
  if (match) {
    peak = Math.max(peak, Number(match[1]))
    samples += 1
  }
}
sample()
const timer = setInterval(sample, workerData.intervalMs)
parentPort.once('message', () => {
  clearInterval(timer)
  sample()
  parentPort.postMessage({ peak, samples })
})
`

/** Samples a process's VmRSS every `intervalMs` until stop(), which returns the peak. */
export function sampleRss(pid: number, intervalMs: number) {
  const worker = new Worker(SAMPLER_SOURCE, { eval: true, workerData: { pid, intervalMs } })
  const failed = once(worker, 'error').then(([error]) => Promise.reject(error as Error))
  failed.catch(() => undefined)
  return {
    async stop(): Promise<{ peakKiB: number; samples: number }> {
      const reply = once(worker, 'message').then(([message]) => message)
      worker.postMessage('stop')
      const { peak, samples } = (await Promise.race([reply, failed])) as {
        peak: number
        samples: number
      }
      await worker.terminate()
      return { peakKiB: peak, samples }
    },
  }
}

export interface ScriptServer {
  url: string
  pid: number
  child: ChildProcess
}

/**
 * Runs a bench/*.ts server script as `node --import tsx <script>` with only PATH and `env`,
 * and waits for it to print `listening <port>`. Stopped by `cleanups`.
 */
export async function startScriptServer(
  label: string,
  script: string,
  env: Record<string, string>,
  cleanups: Cleanups,
): Promise<ScriptServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  cleanups.push(() => stopChild(child))
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  const listening = () => /^listening (\d+)$/m.exec(output)?.[1]
  while (!listening()) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`${label} server did not start:\n${output}`)
    }
    await sleep(50)
  }
  return { url: `http://127.0.0.1:${listening()}`, pid: child.pid!, child }
}

export interface SatchelProcess {
  url: string
  pid: number
  child: ChildProcess
  dataDir: string
  databaseUrl: string
  jwtSecret: string
  output(): string
}

/**
 * Satchel as `npm start` runs it (the build, made once per bench run), on a fresh PostgreSQL
 * database (TEST_PG_URL, as the tests) and a temporary DATA_DIR, listening on 127.0.0.1; `env`
 * adds to or overrides the defaults.
 * The database is dropped and the directory removed by `cleanups`. With `sharing`, another
 * instance of that one instead: same database, DATA_DIR and secret, so its users and tokens
 * work on both. `nodeFlags` go to its node command line (e.g. --cpu-prof).
 */
export async function startSatchel(
  env: Record<string, string>,
  cleanups: Cleanups,
  { sharing, nodeFlags }: { sharing?: SatchelProcess; nodeFlags?: readonly string[] } = {},
): Promise<SatchelProcess> {
  let databaseUrl = sharing?.databaseUrl
  if (!databaseUrl) {
    const database = await createTestDatabase()
    cleanups.push(() => database.drop())
    databaseUrl = database.url
  }
  let dataDir = sharing?.dataDir
  if (!dataDir) {
    const created = await mkdtemp(join(tmpdir(), 'satchel-bench-data-'))
    cleanups.push(() => rm(created, { recursive: true, force: true }))
    dataDir = created
  }
  const jwtSecret = sharing?.jwtSecret ?? randomBytes(48).toString('base64')
  await buildOnce()
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // Not startServer(): it waits for the info-level "satchel ready" line, which LOG_LEVEL=warn
  // hides, so readiness is polled on /healthz instead.
  const { child, output, exited } = runMain(
    {
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl,
      JWT_SECRET: jwtSecret,
      DATA_DIR: dataDir,
      STORAGE_DRIVER: 'local',
      REGISTRATION: 'open',
      ...env,
    },
    nodeFlags,
    { built: true },
  )
  cleanups.push(() => stopChild(child).then(() => exited))
  const deadline = Date.now() + STARTUP_TIMEOUT_MS
  while (
    !(await httpRequest(`${url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      throw new Error(`satchel did not start:\n${output()}`)
    }
    await sleep(100)
  }
  return { url, pid: child.pid!, child, dataDir, databaseUrl, jwtSecret, output }
}

let built: Promise<void> | undefined

/** `npm run build`, once per bench process: the benches measure the build, as users run it. */
function buildOnce(): Promise<void> {
  built ??= new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' })
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build exited ${code}`))))
  })
  return built
}

/** BENCH_NODE_FLAGS, for the node command line of the Satchels a bench profiles. */
export const BENCH_NODE_FLAGS = process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean)

/** A whole number ≥ `min` from the environment, or `fallback` when unset. */
export function envInt(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number ≥ ${min} (got ${JSON.stringify(raw)})`)
  }
  return value
}
