/**
 * Encryption at rest against its baseline, in one run: streams BENCH_MB MiB (default 1024)
 * into LocalBlobStore plain and through EncryptedBlobStore, then reads it all back.
 * Alternates the two so drift on a noisy machine hits both alike. Target: encrypted ≥ 0.6 ×
 * plain, for upload and for download.
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

const MiB = 1024 * 1024
const TOTAL_MIB = Number(process.env.BENCH_MB ?? 1024)
if (!Number.isSafeInteger(TOTAL_MIB) || TOTAL_MIB < 1) {
  throw new Error('BENCH_MB must be a positive whole number (MiB)')
}
const REPETITIONS = 3
const TARGET = 0.6
// The size of the pieces an HTTP request body arrives in.
const PIECE = 64 * 1024

interface Timing {
  upload: number
  download: number
}

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

async function measure(store: BlobStore): Promise<Timing> {
  const key = newBlobKey()
  const bytes = TOTAL_MIB * MiB
  try {
    let started = performance.now()
    const { size, envelope } = await store.put(key, generatedBody())
    const upload = mbPerSecond(bytes, performance.now() - started)
    started = performance.now()
    let read = 0
    for await (const chunk of await store.get(key, undefined, envelope)) read += chunk.length
    const download = mbPerSecond(bytes, performance.now() - started)
    if (size !== bytes || read !== bytes)
      throw new Error(`stored ${size}, read ${read} of ${bytes}`)
    return { upload, download }
  } finally {
    await store.delete(key)
  }
}

function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main() {
  const root = await mkdtemp(join(tmpdir(), 'satchel-bench-encryption-'))
  try {
    const plain = new LocalBlobStore({ root })
    const keyRing = parseKeyRing(generateKeyRingValue())
    const encrypted = new EncryptedBlobStore({ inner: plain, keyRing })
    const runs = { plain: [] as Timing[], encrypted: [] as Timing[] }
    for (let i = 1; i <= REPETITIONS; i++) {
      for (const [name, store] of [
        ['plain', plain],
        ['encrypted', encrypted],
      ] as const) {
        const timing = await measure(store)
        runs[name].push(timing)
        console.error(
          `run ${i} ${name}: ${format(timing.upload)} up, ${format(timing.download)} down`,
        )
      }
    }
    console.log(
      `\n${TOTAL_MIB} MiB through LocalBlobStore, median of ${REPETITIONS} (MB/s, 1 MB = 10^6 B)`,
    )
    console.log('| direction | plain | encrypted | ratio | target ≥ 0.6 |')
    console.log('|---|---|---|---|---|')
    for (const direction of ['upload', 'download'] as const) {
      const p = median(runs.plain.map((run) => run[direction]))
      const e = median(runs.encrypted.map((run) => run[direction]))
      const ratio = e / p
      const verdict = ratio >= TARGET ? 'PASS' : 'FAIL'
      console.log(
        `| ${direction} | ${format(p)} | ${format(e)} | ${ratio.toFixed(2)} | ${verdict} |`,
      )
    }
  } finally {
    await rm(root, { recursive: true, force: true })
  }
}

function format(mbPerSecond: number): string {
  return mbPerSecond.toFixed(0)
}

await main()
