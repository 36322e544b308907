import { describe, expect, it } from 'vitest'
import { blockSizeFor } from './tus-protocol.js'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

describe('blockSizeFor', () => {
  it('is 8 MiB, or what keeps the largest length within 10,000 blocks', () => {
    expect(blockSizeFor(GiB)).toBe(8 * MiB)
    expect(blockSizeFor(100 * GiB)).toBe(Math.ceil((100 * GiB) / 10_000 / (64 * KiB)) * 64 * KiB)
  })

  it('cuts PATCHes of a given length into whole blocks where 5 to 8 MiB ones can', () => {
    expect(blockSizeFor(GiB, 50 * MiB)).toBe(6.25 * MiB)
    expect(blockSizeFor(GiB, 10 * MiB)).toBe(5 * MiB)
    expect(blockSizeFor(GiB, 16 * MiB)).toBe(8 * MiB)
  })

  it('keeps 8 MiB when no such block fits the PATCH', () => {
    expect(blockSizeFor(GiB, 9 * MiB)).toBe(8 * MiB)
    expect(blockSizeFor(GiB, 3 * MiB)).toBe(8 * MiB)
    expect(blockSizeFor(GiB, 50 * MiB + 1)).toBe(8 * MiB)
  })

  it('never goes below what keeps the largest length within 10,000 blocks', () => {
    // 100 GiB needs blocks of 164 × 64 KiB at least, which 20 MiB PATCHes cannot be cut into.
    const floor = blockSizeFor(100 * GiB)
    expect(blockSizeFor(100 * GiB, 20 * MiB)).toBe(floor)
    expect(blockSizeFor(100 * GiB, 3 * floor)).toBe(floor)
  })
})
