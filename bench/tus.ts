/**
 * tus uploads against POST /upload of the same bytes, in one run on one Satchel process
 * (local driver), every request sent by curl so neither side is charged for a Node client on
 * the same cores: POST /upload (curl -F), a sequential tus upload in 50 MiB PATCHes, and the
 * way tus-js-client's parallelUploads: 4 goes (four partial uploads in 50 MiB PATCHes at
 * once, then a final concatenation). Alternated runs, medians: MB/s, ratio to POST /upload,
 * server CPU per GiB, client (curl) CPU per GiB, peak RSS against idle. Targets: sequential
 * ≥ 0.8× POST /upload, peak RSS ≤ idle + 100 MiB.
 *
 *   npx tsx bench/tus.ts [MiB]     (or BENCH_TUS_MB=…; default 1024; BENCH_TUS_RUNS, default 3)
 *
 * BENCH_NODE_OPTIONS goes to the server's NODE_OPTIONS (e.g. --cpu-prof). Needs PostgreSQL as
 * the tests do (TEST_PG_URL). Exits 0 whether or not targets are met.
 */
import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { httpRequest } from '../test/helpers/multipart.js'
import { newCredentials, registerAndLogin } from './lib/http.js'
import {
  Cleanups,
  envInt,
  readCpuSeconds,
  readRssKiB,
  sampleRss,
  startSatchel,
} from './lib/processes.js'
import { renderTable } from './lib/stats.js'

const MiB = 1024 * 1024
const CHUNK = 50 * MiB
const PARALLEL = 4
const SETTLE_MS = 1000
const TARGET_RATIO = 0.8
const TARGET_GROWTH_MiB = 100
const TUS = { 'tus-resumable': '1.0.0' }

interface Run {
  seconds: number
  cpuSeconds: number
  clientCpuSeconds: number
  idleKiB: number
  peakKiB: number
}

interface Piece {
  path: string
  offset: number
}

const run = promisify(execFile)
const cleanups = new Cleanups()

async function main() {
  const size = Number(process.argv[2] ?? envInt('BENCH_TUS_MB', 1024)) * MiB
  const runs = envInt('BENCH_TUS_RUNS', 3)
  const nodeOptions = process.env.BENCH_NODE_OPTIONS
  const satchel = await startSatchel(
    {
      MAX_UPLOAD_BYTES: String(2 * size),
      // Some hundred requests a run, faster than the per-user limit of a minute allows.
      RATE_LIMIT_PER_MINUTE: '100000',
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
    },
    cleanups,
  )
  const authorization = await registerAndLogin(satchel.url, newCredentials('bench-tus'))
  const files = await mkdtemp(join(tmpdir(), 'satchel-bench-tus-'))
  cleanups.push(() => rm(files, { recursive: true, force: true }))
  const whole = join(files, 'bench.bin')
  await writeWhole(whole, size)
  // The file once, then each PATCH body as its own file: curl -T sends a whole file.
  const sequential = await writePieces(whole, files, 'seq', [{ start: 0, end: size }])
  const quarter = Math.ceil(size / PARALLEL)
  const parts = await writePieces(
    whole,
    files,
    'par',
    Array.from({ length: PARALLEL }, (_, i) => ({
      start: i * quarter,
      end: Math.min(size, (i + 1) * quarter),
    })),
  )

  const curl = async (args: string[]) => {
    const { stdout } = await run('curl', ['-sS', '-H', 'Expect:', ...args], {
      maxBuffer: 1024 * 1024,
    })
    return stdout
  }
  const create = async (length: number, concat: string | undefined) => {
    const res = await httpRequest(`${satchel.url}/uploads`, {
      method: 'POST',
      headers: {
        ...TUS,
        authorization,
        'upload-length': String(length),
        'upload-metadata': `filename ${Buffer.from('bench.bin').toString('base64')}`,
        ...(concat ? { 'upload-concat': concat } : {}),
      },
    })
    if (res.status !== 201) throw new Error(`create: ${res.status} ${res.body}`)
    return new URL(String(res.headers.location), satchel.url).href
  }
  const patchAll = async (url: string, pieces: Piece[]) => {
    for (const { path, offset } of pieces) {
      const status = await curl([
        ...['-o', '/dev/null', '-w', '%{http_code}', '-X', 'PATCH', '-T', path],
        ...['-H', `authorization: ${authorization}`, '-H', 'tus-resumable: 1.0.0'],
        ...['-H', `upload-offset: ${offset}`],
        ...['-H', 'content-type: application/offset+octet-stream', url],
      ])
      if (status !== '204') throw new Error(`PATCH at ${offset}: ${status}`)
    }
  }
  const removeFile = async (id: string) => {
    const res = await httpRequest(`${satchel.url}/files/${id}`, {
      method: 'DELETE',
      headers: { authorization },
    })
    if (res.status !== 204) throw new Error(`delete: ${res.status} ${res.body}`)
  }
  const latestFile = async () => {
    const res = await httpRequest(`${satchel.url}/files?limit=1`, { headers: { authorization } })
    const [file] = res.json<{ items: { id: string; size: number }[] }>().items
    if (file?.size !== size) throw new Error(`stored ${file?.size} bytes, sent ${size}`)
    return file.id
  }
  const contenders: Record<string, () => Promise<void>> = {
    'POST /upload (curl -F)': async () => {
      const out = await curl([
        ...['-o', '/dev/null', '-w', '%{http_code}', '-H', `authorization: ${authorization}`],
        ...['-F', `file=@${whole};filename=bench.bin`, `${satchel.url}/upload`],
      ])
      if (out !== '201') throw new Error(`POST /upload: ${out}`)
    },
    'tus 50 MiB PATCHes': async () => {
      await patchAll(await create(size, undefined), sequential[0]!)
    },
    [`tus ${PARALLEL} partials + final`]: async () => {
      const urls = await Promise.all(
        parts.map(async (pieces, i) => {
          const url = await create(Math.min(size, (i + 1) * quarter) - i * quarter, 'partial')
          await patchAll(url, pieces)
          return new URL(url).pathname
        }),
      )
      const res = await httpRequest(`${satchel.url}/uploads`, {
        method: 'POST',
        headers: {
          ...TUS,
          authorization,
          'upload-concat': `final;${urls.join(' ')}`,
          'upload-metadata': `filename ${Buffer.from('bench.bin').toString('base64')}`,
        },
      })
      if (res.status !== 201) throw new Error(`final: ${res.status} ${res.body}`)
    },
  }
  const only = process.env.BENCH_TUS_ONLY
  const chosen = Object.entries(contenders).filter(([name]) => !only || name.startsWith(only))
  const results = new Map<string, Run[]>(chosen.map(([name]) => [name, []]))
  // A warm-up of each, unmeasured, so lazily loaded code is not charged to the first run.
  for (const [, upload] of chosen) {
    await upload()
    await removeFile(await latestFile())
  }
  for (let i = 0; i < runs; i++) {
    for (const [name, upload] of chosen) {
      await sleep(SETTLE_MS)
      const idleKiB = readRssKiB(satchel.pid)
      const cpuBefore = readCpuSeconds(satchel.pid)
      const clientBefore = await readChildrenCpuSeconds()
      const sampler = sampleRss(satchel.pid, 50)
      const started = performance.now()
      await upload()
      const seconds = (performance.now() - started) / 1000
      const cpuSeconds = readCpuSeconds(satchel.pid) - cpuBefore
      const clientCpuSeconds = (await readChildrenCpuSeconds()) - clientBefore
      const { peakKiB } = await sampler.stop()
      const peak = Math.max(peakKiB, idleKiB)
      results.get(name)!.push({ seconds, cpuSeconds, clientCpuSeconds, idleKiB, peakKiB: peak })
      await removeFile(await latestFile())
    }
  }
  report(size, runs, results)
}

/** Random bytes into `whole`, once. */
async function writeWhole(whole: string, size: number) {
  const file = await open(whole, 'w')
  try {
    for (let at = 0; at < size; at += CHUNK)
      await file.write(randomBytes(Math.min(CHUNK, size - at)))
  } finally {
    await file.close()
  }
}

/** For each range of `whole`, its 50 MiB pieces as files. */
async function writePieces(
  whole: string,
  dir: string,
  prefix: string,
  ranges: { start: number; end: number }[],
): Promise<Piece[][]> {
  const source = await open(whole, 'r')
  try {
    const result: Piece[][] = []
    for (const [r, { start, end }] of ranges.entries()) {
      const pieces: Piece[] = []
      for (let at = start; at < end; at += CHUNK) {
        const bytes = Buffer.alloc(Math.min(CHUNK, end - at))
        await source.read(bytes, 0, bytes.length, at)
        const path = join(dir, `${prefix}-${r}-${at}`)
        await writeFile(path, bytes)
        pieces.push({ path, offset: at - start })
      }
      result.push(pieces)
    }
    return result
  } finally {
    await source.close()
  }
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** CPU seconds of this process's waited-for children: every curl so far. */
async function readChildrenCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

function report(size: number, runs: number, results: Map<string, Run[]>) {
  const GiB = size / 1024 / MiB
  const baseline = median([...results.values()][0]!.map((r) => r.seconds))
  const rows = [...results].map(([name, list], i) => {
    const seconds = median(list.map((r) => r.seconds))
    const ratio = baseline / seconds
    const growth = Math.max(...list.map((r) => (r.peakKiB - r.idleKiB) / 1024))
    const verdicts = [growth <= TARGET_GROWTH_MiB ? 'RSS PASS' : 'RSS FAIL']
    if (i === 1) verdicts.unshift(ratio >= TARGET_RATIO ? 'ratio PASS' : 'ratio FAIL')
    return [
      name,
      seconds.toFixed(2),
      (size / seconds / 1e6).toFixed(0),
      ratio.toFixed(2),
      (median(list.map((r) => r.cpuSeconds)) / GiB).toFixed(2),
      (median(list.map((r) => r.clientCpuSeconds)) / GiB).toFixed(2),
      (median(list.map((r) => r.idleKiB)) / 1024).toFixed(0),
      growth.toFixed(0),
      verdicts.join(', '),
    ]
  })
  console.log(`\n${size / MiB} MiB, ${runs} alternated runs, medians (RSS growth: the worst run)`)
  console.log(
    renderTable(
      [
        ...['upload', 'seconds', 'MB/s', '× POST', 'server CPU s/GiB', 'curl CPU s/GiB'],
        ...['idle MiB', 'peak − idle MiB', 'targets'],
      ],
      rows,
    ),
  )
  console.log(
    `targets: sequential tus ≥ ${TARGET_RATIO}× POST /upload; peak RSS ≤ idle + ${TARGET_GROWTH_MiB} MiB`,
  )
}

await cleanups.runMain('bench/tus', main)
