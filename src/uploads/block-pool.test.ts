import { describe, expect, it } from 'vitest'
import { BlockPool } from './block-pool.js'

describe('BlockPool', () => {
  it('lends a buffer given back to the next taker of its size, and only once', () => {
    const pool = new BlockPool(2)
    const block = pool.take(1024)
    pool.give(block)
    expect(pool.take(2048)).not.toBe(block)
    expect(pool.take(1024)).toBe(block)
    expect(pool.take(1024)).not.toBe(block)
  })

  it('keeps no more than its bound, the latest given', () => {
    const pool = new BlockPool(2)
    const [a, b, c] = [pool.take(16), pool.take(16), pool.take(16)]
    for (const block of [a, b, c]) pool.give(block)
    const lent = [pool.take(16), pool.take(16), pool.take(16)]
    expect(lent).toContain(b)
    expect(lent).toContain(c)
    expect(lent).not.toContain(a)
  })
})
