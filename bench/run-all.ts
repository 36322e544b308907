/**
 * Every benchmark, one after the other, each in its own process (`node --import tsx
 * bench/X.ts`), then their detailed tables under one heading with the machine they ran on,
 * and ONE summary table: each figure beside its baseline from the same run, the ratio, the
 * server CPU per request or per GiB of both, the target and PASS or FAIL. This is
 * `npm run bench`; it takes about 10 minutes on a 2-core machine.
 *
 *   npx tsx bench/run-all.ts
 *
 * Order: upload, ranges, search-load, api (GET /files fresh, then after a mixed load); then
 * soak only with BENCH_SOAK=1 (10 minutes by default, SOAK_SECONDS). Each bench reads its own
 * variables from the environment, which is passed through (BENCH_SECONDS and BENCH_RUNS for
 * all the wrk runs, BENCH_UPLOAD_MB, BENCH_SEARCH_FILES, BENCH_MIXED_SECONDS, …: see each
 * script's header); longer runs are a matter of raising them. bench/search.ts (a million
 * rows, one query at a time, EXPLAIN) and bench/encryption.ts (the blob stores alone) are
 * diagnostics, run on their own. A bench running longer than BENCH_TIMEOUT_MINUTES (20) is
 * interrupted. A failing bench does not stop the others; the exit code is 1 when any failed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { FIGURE_HEADER, FIGURES_FILE_VARIABLE, type Figure, figureRow } from './lib/figures.js'
import { envInt, REPO_ROOT } from './lib/processes.js'
import { renderTable } from './lib/stats.js'
import { requireWrk } from './lib/wrk.js'

const TIMEOUT_MS = envInt('BENCH_TIMEOUT_MINUTES', 20) * 60_000
/** After SIGINT, time for a bench to drop its database and stop its servers. */
const KILL_AFTER_MS = 60_000

const BENCHES = [
  'upload',
  'ranges',
  'search-load',
  'api',
  ...(process.env.BENCH_SOAK === '1' ? ['soak'] : []),
]

interface Outcome {
  name: string
  code: number | null
  signal: NodeJS.Signals | null
  seconds: number
  stdout: string
  timedOut: boolean
}

let current: ChildProcess | undefined
let interrupted = false

async function run(name: string, figuresFile: string): Promise<Outcome> {
  const script = `bench/${name}.ts`
  process.stderr.write(`\n=== ${script} ===\n`)
  const started = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, [FIGURES_FILE_VARIABLE]: figuresFile },
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
  const seconds = (performance.now() - started) / 1000
  return { name, code, signal, seconds, stdout, timedOut }
}

function gitCommit(): string {
  try {
    const git = (...args: string[]) =>
      execFileSync('git', args, {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim()
    const commit = git('rev-parse', '--short', 'HEAD')
    return git('status', '--porcelain') ? `${commit} (with uncommitted changes)` : commit
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

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')

function readFigures(file: string): (Figure & { bench: string })[] {
  let text = ''
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return []
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
}

async function main() {
  requireWrk()
  const startedAt = new Date()
  const loadBefore = load()
  const dir = await mkdtemp(join(tmpdir(), 'satchel-bench-all-'))
  const figuresFile = join(dir, 'figures.jsonl')
  const outcomes: Outcome[] = []
  try {
    for (const name of BENCHES) {
      if (interrupted) break
      outcomes.push(await run(name, figuresFile))
    }
    const figures = readFigures(figuresFile)

    const rule = '='.repeat(100)
    console.log(`\n\n${rule}\nSatchel benchmarks\n${rule}`)
    console.log(
      `date:    ${startedAt.toISOString()} (started), ${new Date().toISOString()} (ended)`,
    )
    console.log(
      `machine: nproc ${availableParallelism()}, ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ` +
        `${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM; load average ${loadBefore} (start), ` +
        `${load()} (end)`,
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
    const rows = figures.map(figureRow)
    for (const outcome of outcomes) {
      if (outcome.code === 0 && figures.some((f) => f.bench === outcome.name)) continue
      if (outcome.name === 'soak') continue
      rows.push([`bench/${outcome.name}.ts`, status(outcome), '', '', '', '', 'FAIL'])
    }
    console.log(renderTable(FIGURE_HEADER, rows, FIGURE_HEADER.length))
    console.log(
      '(medians of alternated runs; request rates by wrk, uploads by curl, both outside the ' +
        'servers; CPU: the server process, all its threads, from /proc/PID/stat)',
    )
    const soak = outcomes.find((o) => o.name === 'soak')
    console.log(soak ? `soak: ${status(soak)}` : '(soak not run: BENCH_SOAK=1 adds it)')
    if (interrupted || outcomes.some((o) => o.code !== 0)) process.exitCode = 1
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

// Ctrl-C reaches the running bench too (same process group); it cleans up and exits, and no
// further bench starts.
process.on('SIGINT', () => {
  interrupted = true
  if (!current) process.exit(130)
})

await main()
