/**
 * Every benchmark, one after the other, each in its own process (`node --import tsx
 * bench/X.ts`), then all their tables together under one heading with the machine they ran
 * on. This is `npm run bench`.
 *
 *   npx tsx bench/run-all.ts
 *
 * Order: upload, api, search, encryption; then soak only with BENCH_SOAK=1 (10 minutes by
 * default, SOAK_SECONDS). Each bench reads its own variables from the environment, which is
 * passed through (BENCH_UPLOAD_MB, BENCH_SECONDS, BENCH_MB, …); BENCH_SEARCH_FILES sets
 * BENCH_FILES for search only (default: the full million rows; at least 50000, as its deep
 * paging needs 10,000 files for the heavy user). A bench running longer than
 * BENCH_TIMEOUT_MINUTES (60) is interrupted. A failing bench does not stop the others; the
 * exit code is 1 when any failed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { availableParallelism, cpus, totalmem } from 'node:os'
import { envInt, REPO_ROOT } from './lib/processes.js'
import { renderTable } from './lib/stats.js'

const TIMEOUT_MS = envInt('BENCH_TIMEOUT_MINUTES', 60) * 60_000
/** After SIGINT, time for a bench to drop its database and stop its servers. */
const KILL_AFTER_MS = 60_000

interface Bench {
  name: string
  env: Record<string, string>
}

interface Outcome {
  name: string
  code: number | null
  signal: NodeJS.Signals | null
  seconds: number
  stdout: string
  timedOut: boolean
}

const benches: Bench[] = [
  { name: 'upload', env: {} },
  { name: 'api', env: {} },
  {
    name: 'search',
    env: process.env.BENCH_SEARCH_FILES ? { BENCH_FILES: process.env.BENCH_SEARCH_FILES } : {},
  },
  { name: 'encryption', env: {} },
  ...(process.env.BENCH_SOAK === '1' ? [{ name: 'soak', env: {} }] : []),
]

let current: ChildProcess | undefined
let interrupted = false

async function run(bench: Bench): Promise<Outcome> {
  const script = `bench/${bench.name}.ts`
  process.stderr.write(`\n=== ${script} ===\n`)
  const started = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...bench.env },
    // Progress (stderr) goes straight to the terminal; the tables (stdout) are kept too.
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  current = child
  let stdout = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk
    process.stdout.write(chunk)
  })
  let timedOut = false
  let killer: NodeJS.Timeout | undefined
  const timer = setTimeout(() => {
    timedOut = true
    process.stderr.write(`${script}: over ${TIMEOUT_MS / 60_000} minutes, interrupting\n`)
    child.kill('SIGINT')
    killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS)
  }, TIMEOUT_MS)
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null]
  clearTimeout(timer)
  clearTimeout(killer)
  current = undefined
  return {
    name: bench.name,
    code,
    signal,
    seconds: (performance.now() - started) / 1000,
    stdout,
    timedOut,
  }
}

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
    return dirty ? `${commit} (with uncommitted changes)` : commit
  } catch {
    return 'unknown'
  }
}

const status = (o: Outcome) =>
  o.timedOut
    ? 'TIMED OUT'
    : o.code === 0
      ? 'ok'
      : o.signal
        ? `killed (${o.signal})`
        : `FAILED (exit ${o.code})`

async function main() {
  const startedAt = new Date()
  const outcomes: Outcome[] = []
  for (const bench of benches) {
    if (interrupted) break
    outcomes.push(await run(bench))
  }

  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  const rule = '='.repeat(100)
  console.log(`\n\n${rule}\nSatchel benchmarks\n${rule}`)
  console.log(`date:    ${startedAt.toISOString()} (started), ${new Date().toISOString()} (ended)`)
  console.log(
    `machine: nproc ${availableParallelism()}, ${cpu}, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM`,
  )
  console.log(`node:    ${process.version}`)
  console.log(`commit:  ${gitCommit()}`)
  for (const outcome of outcomes) {
    console.log(
      `\n--- bench/${outcome.name}.ts (${status(outcome)}, ${outcome.seconds.toFixed(0)} s) ---`,
    )
    console.log(outcome.stdout.trimEnd() || '(no output)')
  }
  console.log(`\n${rule}`)
  console.log(
    renderTable(
      ['bench', 'result', 'seconds'],
      outcomes.map((o) => [o.name, status(o), o.seconds.toFixed(0)]),
      2,
    ),
  )
  if (process.env.BENCH_SOAK !== '1') console.log('(soak not run: BENCH_SOAK=1 adds it)')
  if (interrupted || outcomes.some((o) => o.code !== 0)) process.exitCode = 1
}

// Ctrl-C reaches the running bench too (same process group); it cleans up and exits, and no
// further bench starts.
process.on('SIGINT', () => {
  interrupted = true
  if (!current) process.exit(130)
})

await main()
