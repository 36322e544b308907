/**
 * Many uploads at once: BENCH_CONCURRENT_UPLOADS (100) streamed uploads of
 * BENCH_CONCURRENT_UPLOAD_MB (10, in 10^6 bytes) each, one connection each, from 5 users, to
 * Satchel in its own process (PostgreSQL, local storage with fsync, encryption off). Reports
 * errors (target 0), time, MB/s, server CPU and peak RSS over idle, and checks that every
 * upload answered 201 is listed once under its owner.
 *
 *   npx tsx bench/concurrent-uploads.ts
 *
 * Needs PostgreSQL as the tests do (TEST_PG_URL). Exits 1 when an upload failed.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { fixed } from './lib/figures.js'
import { multipartUpload, newCredentials, post, registerAndLogin, send } from './lib/http.js'
import {
  Cleanups,
  envInt,
  readCpuSeconds,
  readRssKiB,
  type SatchelProcess,
  sampleRss,
  startSatchel,
} from './lib/processes.js'
import { renderTable } from './lib/stats.js'

const MB = 1e6
const UPLOADS = envInt('BENCH_CONCURRENT_UPLOADS', 100)
const UPLOAD_BYTES = envInt('BENCH_CONCURRENT_UPLOAD_MB', 10) * MB
const UPLOAD_USERS = 5
const SAMPLE_INTERVAL_MS = 50
const SETTLE_MS = 1000
const REQUEST_TIMEOUT_MS = 5 * 60_000

const cleanups = new Cleanups()
const problems: string[] = []

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

function reportUploads(result: Awaited<ReturnType<typeof benchConcurrentUploads>>) {
  const { seconds, cpuSeconds, idleKiB, peakKiB, samples, failed, errors, listed } = result
  const totalMB = (UPLOADS * UPLOAD_BYTES) / MB
  console.log(
    `\n${UPLOADS} concurrent POST /upload of ${UPLOAD_BYTES / MB} MB each (streamed multipart, ` +
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
  console.log(`target: 0 errors: ${failed === 0 ? 'PASS' : 'FAIL'}`)
}

async function main() {
  console.log(`Satchel concurrent upload benchmark (node ${process.version})`)
  const satchel = await startSatchel({ AUTH_RATE_LIMIT_PER_MINUTE: '100000' }, cleanups)
  reportUploads(await benchConcurrentUploads(satchel))
  if (problems.length > 0) {
    console.log('\nerrors during the run:')
    for (const problem of problems) console.log(`  ${problem}`)
    process.exitCode = 1
  }
}

await cleanups.runMain('bench', main)
