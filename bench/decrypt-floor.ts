/**
 * The floor under encrypted downloads: how fast one core opens AES-256-GCM chunks the way
 * chunk-opener.ts does (a decipher per chunk: createDecipheriv, AAD, tag, update, final),
 * beside one decipher over the same bytes, which pays the per-chunk setup once. Also what a
 * decipher's setup costs alone, and what unwrapping a data key costs (openEnvelope, once per
 * encrypted read). Chunk sizes 16 KiB to 1 MiB, 64 KiB being the one blobs are stored in;
 * BENCH_RUNS rounds (default 9) alternated, medians, this process's CPU (one thread).
 *
 *   npx tsx bench/decrypt-floor.ts
 */
import { randomBytes } from 'node:crypto'
import { ChunkCiphers, TAG_BYTES } from '../src/storage/chunk-format.js'
import { openEnvelope, sealEnvelope } from '../src/storage/envelope.js'
import { generateKeyRingValue, parseKeyRing } from '../src/storage/key-ring.js'
import { fixed } from './lib/figures.js'
import { envInt } from './lib/processes.js'
import { median, renderTable } from './lib/stats.js'

const KiB = 1024
const GiB = KiB ** 3
const SPAN = 32 * KiB * KiB
const CHUNK_SIZES = [16 * KiB, 64 * KiB, 256 * KiB, 1024 * KiB]
const RUNS = envInt('BENCH_RUNS', 9)
const SETUPS = 20_000
const UNWRAPS = 20_000

const blobKey = 'blobs/00/00000000-0000-4000-8000-000000000000'
const dataKey = randomBytes(32)
const ciphers = new ChunkCiphers(dataKey, blobKey)
const plaintext = randomBytes(SPAN)

function cpuSeconds(work: () => void): number {
  const before = process.cpuUsage()
  work()
  const { user, system } = process.cpuUsage(before)
  return (user + system) / 1e6
}

/** SPAN bytes sealed in chunks of `size`, each `ciphertext ‖ tag` as chunk-format.ts lays them. */
function seal(size: number): Buffer[] {
  const frames: Buffer[] = []
  for (let index = 0; index * size < SPAN; index++) {
    const cipher = ciphers.cipher(index, false)
    const body = cipher.update(plaintext.subarray(index * size, (index + 1) * size))
    cipher.final()
    frames.push(Buffer.concat([body, cipher.getAuthTag()]))
  }
  return frames
}

function openEach(frames: Buffer[]) {
  frames.forEach((frame, index) => {
    const body = frame.subarray(0, frame.length - TAG_BYTES)
    const decipher = ciphers.decipher(index, false, frame.subarray(body.length))
    decipher.update(body)
    decipher.final()
  })
}

// Its tag fails, unchecked: only the pace of the bytes matters here.
function openAsOne(frames: Buffer[]) {
  const decipher = ciphers.decipher(0, false, Buffer.alloc(TAG_BYTES))
  for (const frame of frames) decipher.update(frame.subarray(0, frame.length - TAG_BYTES))
}

function main() {
  console.log(`AES-256-GCM decrypt floor, one core (node ${process.version})`)
  const sealed = new Map(CHUNK_SIZES.map((size) => [size, seal(size)]))
  const perChunk = new Map<number, number[]>(CHUNK_SIZES.map((size) => [size, []]))
  const asOne = new Map<number, number[]>(CHUNK_SIZES.map((size) => [size, []]))
  const setups: number[] = []
  const unwraps: number[] = []
  const ring = parseKeyRing(generateKeyRingValue())
  const envelope = sealEnvelope(blobKey, ring.current, { dataKey, chunkSize: 64 * KiB, size: 1 })
  const tag = Buffer.alloc(TAG_BYTES)
  for (let run = 0; run < RUNS; run++) {
    for (const [size, frames] of sealed) {
      perChunk.get(size)!.push((cpuSeconds(() => openEach(frames)) * GiB) / SPAN)
      asOne.get(size)!.push((cpuSeconds(() => openAsOne(frames)) * GiB) / SPAN)
    }
    setups.push(
      cpuSeconds(() => {
        for (let i = 0; i < SETUPS; i++) ciphers.decipher(i, false, tag)
      }) / SETUPS,
    )
    unwraps.push(
      cpuSeconds(() => {
        for (let i = 0; i < UNWRAPS; i++) openEnvelope(blobKey, envelope, ring)
      }) / UNWRAPS,
    )
  }
  const rate = (secondsPerGiB: number) => fixed(GiB / secondsPerGiB / 1e6, 0)
  const rows = CHUNK_SIZES.map((size) => {
    const each = median(perChunk.get(size)!)
    const one = median(asOne.get(size)!)
    return [
      `${size / KiB} KiB`,
      rate(each),
      fixed(each, 3),
      rate(one),
      fixed(one, 3),
      fixed(one / each, 2),
    ]
  })
  console.log(
    `\n${SPAN / KiB / KiB} MiB opened ${RUNS} times, medians (MB = 10^6 bytes; CPU s per GiB)`,
  )
  console.log(
    renderTable(
      ['chunk', 'per chunk MB/s', 'CPU s/GiB', 'one decipher MB/s', 'CPU s/GiB', 'ratio'],
      rows,
    ),
  )
  console.log(`\ndecipher setup (createDecipheriv, AAD, tag): ${fixed(median(setups) * 1e6, 2)} µs`)
  console.log(`data key unwrap (openEnvelope): ${fixed(median(unwraps) * 1e6, 2)} µs`)
}

main()
