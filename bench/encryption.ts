/**
 * Encryption at rest against its baseline, in one run: streams BENCH_MB MiB (default 1024)
 * into LocalBlobStore plain and through EncryptedBlobStore, reads it all back, then reads
 * BENCH_RANGES ranges of 8 MiB (default 64) at random, unaligned offsets, as ranged
 * downloads do. Alternates the two so drift on a noisy machine hits both alike, and reports
 * this process's CPU per GiB beside each rate (the store runs in process, so that is the
 * store's CPU). Targets: encrypted ≥ 0.75 × plain for upload, ≥ 0.6 × for downloads.
 *
 *   npx tsx bench/encryption.ts
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { newBlobKey } from '../src/storage/blob-key.js'
import type { BlobStore } from '../src/storage/blob-store.js'
import { EncryptedBlobStore } from '../src/storage/encrypted-blob-store.js'
import { generateKeyRingValue, parseKeyRing } from '../src/storage/key-ring.js'
import { LocalBlobStore } from '../src/storage/local-blob-store.js'
import { envInt } from './lib/processes.js'
import { renderTable } from './lib/stats.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const TOTAL_MIB = envInt('BENCH_MB', 1024)
const RANGES = envInt('BENCH_RANGES', 64)
const RANGE_BYTES = 8 * MiB
const REPETITIONS = 3
// The size of the pieces an HTTP request body arrives in.
const PIECE = 64 * 1024

const DIRECTIONS = ['upload', 'download', 'ranges'] as const
type Direction = (typeof DIRECTIONS)[number]
const TARGETS: Record<Direction, number> = { upload: 0.75, download: 0.6, ranges: 0.6 }

interface Rate {
  mbPerSecond: number
  cpuSecondsPerGiB: number
}

type Timing = Record<Direction, Rate>

/** TOTAL_MIB of bytes, generated as they are read: nothing holds the whole input. */
function generatedBody(): Readable {
  const piece = randomBytes(PIECE)
  const pieces = (TOTAL_MIB * MiB) / PIECE
  return Readable.from(
    (function* () {
      for (let i = 0; i < pieces; i++) yield piece
    })(),
    { objectMode: false },
  )
}

/** The same offsets for both stores in a repetition, none aligned to a chunk. */
function rangeOffsets(bytes: number): number[] {
  const span = bytes - RANGE_BYTES
  return Array.from({ length: RANGES }, () => Math.floor(Math.random() * span))
}

async function rate<T>(bytes: number, work: () => Promise<T>): Promise<{ rate: Rate; value: T }> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  const value = await work()
  const seconds = (performance.now() - started) / 1000
  const { user, system } = process.cpuUsage(cpu)
  return {
    rate: {
      mbPerSecond: bytes / 1e6 / seconds,
      cpuSecondsPerGiB: (user + system) / 1e6 / (bytes / GiB),
    },
    value,
  }
}

async function drain(stream: Readable): Promise<number> {
  let read = 0
  for await (const chunk of stream) read += (chunk as Buffer).length
  return read
}

async function measure(store: BlobStore, offsets: number[]): Promise<Timing> {
  const key = newBlobKey()
  const bytes = TOTAL_MIB * MiB
  try {
    const put = await rate(bytes, () => store.put(key, generatedBody()))
    const { size, envelope } = put.value
    const whole = await rate(bytes, async () => drain(await store.get(key, undefined, envelope)))
    const ranged = await rate(offsets.length * RANGE_BYTES, async () => {
      let read = 0
      for (const start of offsets) {
        read += await drain(await store.get(key, { start, end: start + RANGE_BYTES - 1 }, envelope))
      }
      return read
    })
    if (size !== bytes || whole.value !== bytes || ranged.value !== offsets.length * RANGE_BYTES) {
      throw new Error(`stored ${size}, read ${whole.value} of ${bytes}, ranges ${ranged.value}`)
    }
    return { upload: put.rate, download: whole.rate, ranges: ranged.rate }
  } finally {
    await store.delete(key)
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main() {
  if (TOTAL_MIB * MiB < 2 * RANGE_BYTES) throw new Error('BENCH_MB must be at least 16')
  const root = await mkdtemp(join(tmpdir(), 'satchel-bench-encryption-'))
  try {
    const plain = new LocalBlobStore({ root })
    const keyRing = parseKeyRing(generateKeyRingValue())
    const encrypted = new EncryptedBlobStore({ inner: plain, keyRing })
    const runs = { plain: [] as Timing[], encrypted: [] as Timing[] }
    for (let i = 1; i <= REPETITIONS; i++) {
      const offsets = rangeOffsets(TOTAL_MIB * MiB)
      for (const [name, store] of [
        ['plain', plain],
        ['encrypted', encrypted],
      ] as const) {
        const timing = await measure(store, offsets)
        runs[name].push(timing)
        console.error(
          `run ${i} ${name}: ${DIRECTIONS.map((d) => `${d} ${format(timing[d])}`).join(', ')}`,
        )
      }
    }
    console.log(
      `\n${TOTAL_MIB} MiB through LocalBlobStore, then ${RANGES} ranges of 8 MiB; median of ` +
        `${REPETITIONS} alternating runs (MB/s, 1 MB = 10^6 B; CPU: this process, s per GiB)`,
    )
    const rows = DIRECTIONS.map((direction) => {
      const mbps = (timings: Timing[]) => median(timings.map((t) => t[direction].mbPerSecond))
      const cpu = (timings: Timing[]) => median(timings.map((t) => t[direction].cpuSecondsPerGiB))
      const ratio = mbps(runs.encrypted) / mbps(runs.plain)
      return [
        direction,
        mbps(runs.plain).toFixed(0),
        cpu(runs.plain).toFixed(2),
        mbps(runs.encrypted).toFixed(0),
        cpu(runs.encrypted).toFixed(2),
        ratio.toFixed(2),
        `≥ ${TARGETS[direction]}`,
        ratio >= TARGETS[direction] ? 'PASS' : 'FAIL',
      ]
    })
    console.log(
      renderTable(
        [
          'direction',
          'plain MB/s',
          'CPU s/GiB',
          'encrypted MB/s',
          'CPU s/GiB',
          'ratio',
          'target',
          '',
        ],
        rows,
      ),
    )
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

function format({ mbPerSecond, cpuSecondsPerGiB }: Rate): string {
  return `${mbPerSecond.toFixed(0)} MB/s (${cpuSecondsPerGiB.toFixed(2)} s CPU/GiB)`
}

await main()
