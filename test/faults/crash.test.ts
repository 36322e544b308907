import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, type ExpectStatic, it } from 'vitest'
import { TEST_JWT_SECRET } from '../helpers/build-test-app.js'
import {
  DirectDb,
  type FileRow,
  localRawStorage,
  type RawStorage,
  s3RawStorage,
} from '../helpers/crash-checks.js'
import { CrashClient } from '../helpers/crash-client.js'
import { createTestDatabase, type TestDatabase } from '../helpers/databases.js'
import { httpRequest } from '../helpers/multipart.js'
import { type S3TestServer, startS3Server } from '../helpers/s3-server.js'
import { type ServerProcess, startServer } from '../helpers/server-process.js'

const MiB = 1024 * 1024
const ROUNDS = 8
const GRACE_SECONDS = 2
// Past the 5 MiB S3 part size, so each is a multipart upload a kill can leave behind; paced,
// so it streams for at least 0.6 s even on an idle machine and a kill can catch it.
const bigFile = () => ({ size: Math.floor((6 + Math.random() * 4) * MiB), paceMs: 100 })
const smallFile = () => ({ size: Math.floor((0.25 + Math.random()) * MiB) })

interface Fixture {
  driver: 'local' | 's3'
  env: Record<string, string>
  db: DirectDb
  raw: RawStorage
  s3?: S3TestServer
  close(): Promise<void>
}

/** What a kill left, read before the next server starts and sweeps it. */
interface KillReport {
  mode: KillMode
  /** Whether the kill came at the point its mode aims for. */
  reached: boolean
  partials: number
  rows: FileRow[]
  usage: Awaited<ReturnType<DirectDb['usage']>>
  /** Seconds to start the server, and from then to the kill. */
  took: [number, number]
}

/**
 * kill -9 at random points of single and multi-file uploads, deletes and sweeps, on both
 * storage drivers; then a restart past the grace period, whose first sweep must leave every
 * acknowledged change in place and nothing half done: no visible file without its bytes, no
 * row pending or deleted, no blob without a row, no partial write, no request half visible.
 * The drivers run side by side: most of the time goes on starting servers.
 */
describe('crash convergence', () => {
  it.concurrent.for(['local', 's3'] as const)(
    `on the %s driver, over ${ROUNDS} kills`,
    { timeout: 420_000 },
    async (driver, { expect }) => {
      const fixture = await openFixture(driver)
      try {
        const client = new CrashClient()
        const kills: KillReport[] = []
        for (let round = 0; round < ROUNDS; round++)
          kills.push(await killRound(fixture, client, round))
        await checkConverged(fixture, client, kills, expect)
      } finally {
        await fixture.close()
      }
    },
  )
})

async function openFixture(driver: 'local' | 's3'): Promise<Fixture> {
  const database: TestDatabase = await createTestDatabase()
  const dataDir = await mkdtemp(join(tmpdir(), 'satchel-crash-'))
  const s3 = driver === 's3' ? await startS3Server() : undefined
  const db = await DirectDb.open(database.url)
  return {
    driver,
    env: {
      ...s3?.env,
      // Sealed blobs on one driver, so the crash paths run through the encrypting store too.
      ...(s3 && { ENCRYPTION_KEY: randomBytes(32).toString('base64') }),
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: dataDir,
      REGISTRATION: 'open',
      // Leases lapse and partials go stale within the test; sweeps run while kills land.
      UPLOAD_GRACE_SECONDS: String(GRACE_SECONDS),
      SWEEP_INTERVAL_SECONDS: '1',
    },
    db,
    raw: s3 ? s3RawStorage(s3) : localRawStorage(join(dataDir, 'blobs')),
    s3,
    async close() {
      await db.close()
      await s3?.close()
      await database.drop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/**
 * Where a round's kill lands: at a random moment while the free-running uploads still stream
 * (early), or once 2–3 of those 3 requests are answered (late); just after the stalled
 * request has stored its first files and is streaming its last (staged), the moment a request
 * is most nearly half visible; or as soon as a sweep has hidden the round's expired files
 * (sweep), with their blobs and rows still to remove. Progress, not a clock, picks the moment
 * (but for early, which the pacing of the uploads bounds), so every round cuts something off
 * however loaded or idle the machine is.
 */
const KILL_MODES = ['early', 'staged', 'sweep', 'late'] as const
type KillMode = (typeof KILL_MODES)[number]

/** Starts a server, sets uploads, a delete and sweeps going, and kills it. */
async function killRound(
  { env, db, raw }: Fixture,
  client: CrashClient,
  round: number,
): Promise<KillReport> {
  const mode = KILL_MODES[round % KILL_MODES.length]!
  const begun = Date.now()
  const server = await startServer(env, 60_000)
  const started = Date.now()
  try {
    client.url = server.url
    if (round === 0) await client.signIn()
    // A fresh process spends a few hundred ms on its first upload, longer than many kill
    // windows: one answered first makes the kills land on a warm server, as in production.
    await client.upload(`r${round}-warm`, [{ size: 64 * 1024 }])
    // Files that expire in a second: the sweeps (every second) expire and purge them while
    // the kill is on its way.
    const brief = Array.from({ length: 8 }, () => ({ size: 16 * 1024 }))
    await client.upload(`r${round}-brief`, brief, { expiresIn: 1 })

    const stalledParts = 2 + (round % 2)
    const free = [
      client.upload(`r${round}-a`, [bigFile()]),
      client.upload(`r${round}-b`, [bigFile()]),
      client.upload(`r${round}-m`, Array.from({ length: 3 - (round % 2) }, bigFile)),
    ]
    const work = [
      ...free,
      client.deleteOne(),
      // Its last part stalls past one S3 part, so that part is a partial write in progress.
      client.upload(`r${round}-s`, [
        ...Array.from({ length: stalledParts - 1 }, smallFile),
        { size: 12 * MiB, stallAfter: Math.floor(5.5 * MiB) },
      ]),
    ]
    const reached = await killPoint(mode, { db, round, free, stalledParts })
    server.child.kill('SIGKILL')
    const took: [number, number] = [(started - begun) / 1000, (Date.now() - started) / 1000]
    await Promise.allSettled(work)
    await server.stop()
    const partials = (await raw.partials()).length
    return { mode, reached, partials, rows: await db.rows(), usage: await db.usage(), took }
  } finally {
    if (server.child.exitCode === null && server.child.signalCode === null)
      server.child.kill('SIGKILL')
  }
}

/** Waits for the round's kill point; false if it was not reached in time (killed anyway). */
async function killPoint(
  mode: KillMode,
  at: { db: DirectDb; round: number; free: Promise<unknown>[]; stalledParts: number },
): Promise<boolean> {
  const { db, round, free, stalledParts } = at
  const deadline = Date.now() + 20_000
  const until = async (reached: () => Promise<boolean>) => {
    while (Date.now() < deadline) {
      if (await reached()) return true
      await sleep(10)
    }
    return false
  }
  let reached: boolean
  if (mode === 'staged') {
    // The last part gets its row only once every earlier part is stored.
    const last = `r${round}-s-p${stalledParts - 1}.bin`
    reached = await until(async () => (await db.statuses(last)).length > 0)
  } else if (mode === 'sweep') {
    // On local disk the purge may follow the hiding within milliseconds: once the rows are
    // gone, the moment has passed.
    let hidden = false
    await until(async () => {
      const statuses = await db.statuses(`r${round}-brief-%`)
      hidden = statuses.includes('deleted')
      return hidden || statuses.length === 0
    })
    return hidden
  } else if (mode === 'late') {
    const answers = 2 + Math.floor(Math.random() * 2)
    let answered = 0
    for (const request of free) void request.then(() => answered++)
    reached = await until(async () => answered >= answers)
  } else {
    // Under the 0.6 s the pacing keeps every free upload streaming.
    reached = true
  }
  await sleep(Math.random() * 500)
  return reached
}

async function checkConverged(
  { driver, env, db, raw, s3 }: Fixture,
  client: CrashClient,
  kills: KillReport[],
  expect: ExpectStatic,
) {
  // Past the grace: every pending row's lease has lapsed and every partial is stale. A purge
  // a kill cut off keeps its claim for the purge lease (minutes): skip that wait.
  await sleep((GRACE_SECONDS + 1.5) * 1000)
  const lapsedClaims = await db.lapsePurgeClaims()
  const server = await startServer(env, 60_000)
  try {
    const sweep = await firstSweep(server)
    const rows = await db.rows()
    const objects = await raw.objects()
    const keys = new Set(rows.map((row) => row.storage_key))
    const describeRow = (row: FileRow) => `${row.name} ${row.status} ${row.storage_key}`

    // Soft, so one run shows every way it went wrong. Nothing half done:
    expect.soft(rows.filter((row) => row.status !== 'available').map(describeRow)).toEqual([])
    expect.soft(objects.filter((key) => !keys.has(key))).toEqual([])
    expect
      .soft(rows.filter((row) => !objects.includes(row.storage_key)).map(describeRow))
      .toEqual([])
    expect.soft(await raw.partials()).toEqual([])
    if (s3) expect.soft(await s3.pendingMultipartUploads()).toBe(0)

    // Each file there serves the bytes its row names, and those are the bytes sent.
    const wrongBytes: string[] = []
    for (const row of rows) {
      const res = await httpRequest(`${server.url}/files/${row.id}/content`, {
        headers: client.auth,
      })
      const served = createHash('sha256').update(res.body).digest('hex')
      const sent = client.digestOf(row.name)
      if (res.status !== 200 || served !== row.sha256 || served !== sent)
        wrongBytes.push(`${row.name}: ${res.status} ${served}, row ${row.sha256}, sent ${sent}`)
    }
    expect.soft(wrongBytes).toEqual([])
    expect.soft(client.wrongAnswers).toEqual([])

    // Every acknowledged change held: uploads there, deletes and expiries gone.
    const present = new Map(rows.map((row) => [row.id, row.sha256]))
    expect
      .soft([...client.expected].filter(([id, sha256]) => present.get(id) !== sha256))
      .toEqual([])
    expect.soft([...client.deleted].filter((id) => present.has(id))).toEqual([])
    expect.soft([...client.expiring].filter((id) => present.has(id))).toEqual([])
    // A request cut off before its answer left all of its files or none.
    const names = new Set(rows.map((row) => row.name))
    const halfDone = client.sent.filter((request) => {
      const there = request.names.filter((name) => names.has(name)).length
      return !request.acked && there !== 0 && there !== request.names.length
    })
    expect.soft(halfDone.map((request) => request.names)).toEqual([])
    // Quota usage matched the rows at every kill, and still does: the reservations the kills
    // left were released when their rows were reaped.
    const usage = await db.usage()
    const drifted = kills.filter((kill) => kill.usage.used !== kill.usage.accounted)
    expect.soft(drifted.map((kill) => ({ mode: kill.mode, ...kill.usage }))).toEqual([])
    expect.soft(usage.used).toBe(usage.accounted)

    const seen = (keep: (row: FileRow) => boolean) =>
      new Set(kills.flatMap((kill) => kill.rows.filter(keep).map((row) => row.id))).size
    const multi = client.sent.filter((request) => request.names.length > 1)
    const evidence = {
      acknowledgedUploads: client.sent.filter((r) => r.acked).length,
      acknowledgedDeletes: client.deleted.size,
      expired: client.expiring.size,
      interruptedSingles: client.sent.filter((r) => r.names.length === 1 && !r.acked).length,
      interruptedMulti: multi.filter((r) => !r.acked).length,
      acknowledgedMulti: multi.filter((r) => r.acked).length,
      deletesCut: client.deletesCut.size,
      killsAtTheirPoint: kills.filter((kill) => kill.reached).map((kill) => kill.mode),
      partialsLeft: kills.reduce((sum, kill) => sum + kill.partials, 0),
      pendingLeft: seen((row) => row.status === 'pending'),
      reservedLeft: Math.max(...kills.map((kill) => kill.usage.reserved)),
      deletedLeft: seen((row) => row.status === 'deleted'),
      lapsedClaims,
      visibleAtEnd: rows.length,
      secondsToStartAndToKill: kills.map((kill) => kill.took.join(' + ')),
    }
    console.info(`${driver}: first sweep ${JSON.stringify(sweep)}, ${JSON.stringify(evidence)}`)
    // Otherwise the kills missed what this test is about, and it proved nothing.
    expect(evidence.acknowledgedUploads).toBeGreaterThanOrEqual(ROUNDS)
    expect(evidence.expired).toBeGreaterThan(0)
    expect(evidence.interruptedSingles).toBeGreaterThan(0)
    expect(evidence.killsAtTheirPoint).toContain('staged')
    expect(evidence.pendingLeft).toBeGreaterThan(0)
    expect(evidence.partialsLeft).toBeGreaterThan(0)
  } finally {
    await server.stop()
  }
}

/** The counts of a server's first sweep, the one that also removes orphans and partials. */
async function firstSweep(server: ServerProcess): Promise<Record<string, number>> {
  for (let waited = 0; waited < 60_000; waited += 50) {
    const line = server
      .output()
      .split('\n')
      .find((l) => l.includes('"sweep finished"') || l.includes('"sweep failed"'))
    if (line?.includes('"sweep failed"')) throw new Error(`the first sweep failed: ${line}`)
    if (line) return JSON.parse(line).sweep
    await sleep(50)
  }
  throw new Error(`no sweep after the restart:\n${server.output()}`)
}
