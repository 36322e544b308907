/**
 * tus uploads against POST /upload of the same bytes, in one run on one Satchel process
 * (local driver): a sequential tus upload in 50 MiB chunks and one with parallelUploads: 4,
 * each timed as a ratio to POST /upload, alternated, medians of RUNS; and the server's peak
 * RSS during each against its idle RSS. Targets: sequential ≥ 0.8× POST /upload, peak RSS
 * ≤ idle + 100 MiB.
 *
 *   npx tsx bench/tus.ts [MiB]     (or BENCH_TUS_MB=…; default 1024; BENCH_TUS_RUNS, default 3)
 *
 * Needs PostgreSQL as the tests do (TEST_PG_URL). Exits 0 whether or not targets are met.
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import * as tus from 'tus-js-client'
import { httpRequest } from '../test/helpers/multipart.js'
import { multipartBuffer, newCredentials, post, registerAndLogin } from './lib/http.js'
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
const SETTLE_MS = 1000
const TARGET_RATIO = 0.8
const TARGET_GROWTH_MiB = 100

interface Run {
  seconds: number
  cpuSeconds: number
  idleKiB: number
  peakKiB: number
}

const cleanups = new Cleanups()

async function main() {
  const size = Number(process.argv[2] ?? envInt('BENCH_TUS_MB', 1024)) * MiB
  const runs = envInt('BENCH_TUS_RUNS', 3)
  const satchel = await startSatchel({ MAX_UPLOAD_BYTES: String(2 * size) }, cleanups)
  const authorization = await registerAndLogin(satchel.url, newCredentials('bench-tus'))
  const data = randomBytes(size)

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
  const tusUpload = (parallelUploads: number) =>
    new Promise<void>((resolve, reject) => {
      new tus.Upload(data, {
        endpoint: `${satchel.url}/uploads`,
        chunkSize: 50 * MiB,
        parallelUploads,
        retryDelays: null,
        headers: { authorization },
        metadata: { filename: 'bench.bin' },
        onSuccess: () => resolve(),
        onError: reject,
      }).start()
    })
  const contenders: Record<string, () => Promise<void>> = {
    'POST /upload': async () => {
      const { contentType, length, body } = multipartBuffer(data, 'bench.bin')
      const headers = {
        authorization,
        'content-type': contentType,
        'content-length': String(length),
      }
      const res = await post(`${satchel.url}/upload`, headers, Readable.from([body]), 600_000)
      if (res.status !== 201) throw new Error(`POST /upload: ${res.status} ${res.text}`)
    },
    'tus 50 MiB chunks': () => tusUpload(1),
    'tus parallelUploads: 4': () => tusUpload(4),
  }
  const results = new Map<string, Run[]>(Object.keys(contenders).map((name) => [name, []]))
  // A warm-up of each, unmeasured, so lazily loaded code is not charged to the first run.
  for (const upload of Object.values(contenders)) {
    await upload()
    await removeFile(await latestFile())
  }
  for (let run = 0; run < runs; run++) {
    for (const [name, upload] of Object.entries(contenders)) {
      await sleep(SETTLE_MS)
      const idleKiB = readRssKiB(satchel.pid)
      const cpuBefore = readCpuSeconds(satchel.pid)
      const sampler = sampleRss(satchel.pid, 50)
      const started = performance.now()
      await upload()
      const seconds = (performance.now() - started) / 1000
      const cpuSeconds = readCpuSeconds(satchel.pid) - cpuBefore
      const { peakKiB } = await sampler.stop()
      results.get(name)!.push({ seconds, cpuSeconds, idleKiB, peakKiB: Math.max(peakKiB, idleKiB) })
      await removeFile(await latestFile())
    }
  }
  report(size, runs, results)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

function report(size: number, runs: number, results: Map<string, Run[]>) {
  const baseline = median(results.get('POST /upload')!.map((r) => r.seconds))
  const rows = [...results].map(([name, list]) => {
    const seconds = median(list.map((r) => r.seconds))
    const growth = Math.max(...list.map((r) => (r.peakKiB - r.idleKiB) / 1024))
    return [
      name,
      seconds.toFixed(2),
      (size / seconds / 1e6).toFixed(0),
      (baseline / seconds).toFixed(2),
      median(list.map((r) => r.cpuSeconds)).toFixed(2),
      (median(list.map((r) => r.idleKiB)) / 1024).toFixed(0),
      growth.toFixed(0),
    ]
  })
  console.log(`\n${size / MiB} MiB, ${runs} alternated runs, medians (RSS growth: the worst run)`)
  console.log(
    renderTable(
      ['upload', 'seconds', 'MB/s', '× POST', 'CPU s', 'idle MiB', 'peak − idle MiB'],
      rows,
    ),
  )
  console.log(
    `targets: sequential tus ≥ ${TARGET_RATIO}× POST /upload; peak RSS ≤ idle + ${TARGET_GROWTH_MiB} MiB`,
  )
}

await cleanups.runMain('bench/tus', main)
