import { describe, expect, it } from 'vitest'
import { LruMap } from './lru-map.js'

describe('LruMap', () => {
  it('keeps entries in use and forgets those unused longest, within maxEntries', () => {
    const map = new LruMap<number, string>(100)
    const hot = Array.from({ length: 10 }, (_, i) => i)
    for (let i = 0; i < 1000; i++) {
      map.set(i, `v${i}`)
      if (i >= 10 && i % 20 === 0) for (const key of hot) expect(map.get(key)).toBe(`v${key}`)
    }

    for (const key of hot) expect(map.get(key)).toBe(`v${key}`)
    for (let i = 10; i < 900; i++) expect(map.get(i)).toBeUndefined()
    for (let i = 960; i < 1000; i++) expect(map.get(i)).toBe(`v${i}`)
    let held = 0
    for (let i = 0; i < 1000; i++) if (map.get(i) !== undefined) held++
    expect(held).toBeLessThanOrEqual(100)
  })

  it('replaces and deletes', () => {
    const map = new LruMap<string, number>(10)
    map.set('a', 1)
    map.set('a', 2)
    map.set('b', 3)
    map.delete('b')

    expect(map.get('a')).toBe(2)
    expect(map.get('b')).toBeUndefined()
  })
})
