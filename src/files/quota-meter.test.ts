import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { describe, expect, it } from 'vitest'
import { QuotaExceededError, UploadInterruptedError } from './files-errors.js'
import { QuotaMeter } from './quota-meter.js'

const KiB = 1024
const MiB = 1024 * KiB

type Reservation = 'ok' | 'over' | 'lost'

interface Call {
  bytes: number
  /** Bytes the meter had let through when it asked. */
  passedBefore: number
  settled: boolean
}

/**
 * Streams `total` bytes in `chunk`-sized pieces through a meter whose reservations answer
 * with `answer` after `latencyMs`, recording each call.
 */
async function run(options: {
  total: number
  chunk?: number
  latencyMs?: number
  answer?: (bytes: number, reservedSoFar: number) => Reservation
}) {
  const { total, chunk = 64 * KiB, latencyMs = 1, answer = () => 'ok' } = options
  const calls: Call[] = []
  let passed = 0
  let reserved = 0
  const meter = new QuotaMeter(async (bytes) => {
    const call = { bytes, passedBefore: passed, settled: false }
    calls.push(call)
    await new Promise((resolve) => setTimeout(resolve, latencyMs))
    const result = answer(bytes, reserved)
    if (result === 'ok') reserved += bytes
    call.settled = true
    return result
  })
  const sink = new Writable({
    write(piece: Buffer, _encoding, done) {
      passed += piece.length
      done()
    },
  })
  const source = Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += chunk)
        yield Buffer.alloc(Math.min(chunk, total - sent))
    })(),
  )
  const outcome = await pipeline(source, meter, sink).then(
    () => undefined,
    (err: unknown) => err,
  )
  return { calls, passed, reserved, outcome }
}

describe('QuotaMeter', () => {
  it('asks for the next block while the bytes still have a whole block reserved ahead', async () => {
    const { calls, passed, outcome } = await run({ total: 64 * MiB })

    expect(outcome).toBeUndefined()
    expect(passed).toBe(64 * MiB)
    // Once blocks are 8 MiB, each is asked for with most of the one before still unspent,
    // so the bytes never stop for a round trip to the database.
    let reservedBefore = 0
    for (const call of calls) {
      if (reservedBefore >= 16 * MiB) {
        expect(
          reservedBefore - call.passedBefore,
          `call at ${call.passedBefore}`,
        ).toBeGreaterThanOrEqual(8 * MiB)
      }
      reservedBefore += call.bytes
    }
  })

  it('keeps small uploads at one reservation per block, as few as before', async () => {
    const { calls } = await run({ total: 40 * KiB, chunk: 8 * KiB })

    expect(calls.map((call) => call.bytes)).toEqual([64 * KiB])
  })

  it('ends only once every reservation it asked for has settled', async () => {
    const { calls, outcome } = await run({ total: 24 * MiB + 5, latencyMs: 20 })

    expect(outcome).toBeUndefined()
    expect(calls.every((call) => call.settled)).toBe(true)
  })

  it('never lets a byte through unreserved, and stops at the quota', async () => {
    const quota = 20 * MiB + 123
    const { passed, reserved, outcome } = await run({
      total: 64 * MiB,
      answer: (bytes, reservedSoFar) => (reservedSoFar + bytes <= quota ? 'ok' : 'over'),
    })

    expect(outcome).toBeInstanceOf(QuotaExceededError)
    expect(reserved).toBeLessThanOrEqual(quota)
    expect(passed).toBeLessThanOrEqual(reserved)
    // The exact bytes are asked for once a block no longer fits, so the quota is used up to
    // the last whole chunk that fits.
    expect(quota - passed).toBeLessThan(64 * KiB)
  })

  it('fails the upload when its row was given up, even on a block asked for ahead', async () => {
    const { outcome, passed } = await run({
      total: 64 * MiB,
      answer: (_bytes, reservedSoFar) => (reservedSoFar >= 16 * MiB ? 'lost' : 'ok'),
    })

    expect(outcome).toBeInstanceOf(UploadInterruptedError)
    expect(passed).toBeLessThanOrEqual(16 * MiB)
  })
})
