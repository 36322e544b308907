import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Cache } from '../../src/infra/cache/cache.js'

/** The behaviour every Cache adapter must have; each adapter's test file runs it. */
export function cacheContract(
  name: string,
  setup: () => Promise<{ cache: Cache; teardown(): Promise<void> }>,
) {
  describe(`Cache contract: ${name}`, () => {
    let cache: Cache
    let teardown: (() => Promise<void>) | undefined

    beforeAll(async () => {
      ;({ cache, teardown } = await setup())
    })
    afterAll(async () => {
      await teardown?.()
    })

    const file = {
      id: randomUUID(),
      name: 'report ü.pdf',
      size: 1234,
      tags: ['a', 'b'],
      owner: { id: randomUUID(), deleted: false },
      expires_at: null,
    }

    it('round-trips a JSON object', async () => {
      const key = randomUUID()
      await cache.set(key, file, 60)

      expect(await cache.get(key)).toEqual(file)
    })

    it('round-trips JSON scalars, falsy ones included', async () => {
      for (const value of [0, '', false, null, 'text', 42.5]) {
        const key = randomUUID()
        await cache.set(key, value, 60)
        expect(await cache.get(key)).toBe(value)
      }
    })

    it('answers undefined for an absent key', async () => {
      expect(await cache.get(randomUUID())).toBeUndefined()
    })

    it('forgets a value once its TTL has passed, a written-back one too', async () => {
      const [key, loaded] = [randomUUID(), randomUUID()]
      await cache.set(key, file, 1)
      const miss = await cache.lookup(loaded)
      if (miss.hit) throw new Error('expected a miss')
      await cache.setIfUnchanged(loaded, file, 1, miss.stamp)
      expect(await cache.get(key)).toEqual(file)
      expect(await cache.get(loaded)).toEqual(file)

      await sleep(1200)

      expect(await cache.get(key)).toBeUndefined()
      expect((await cache.lookup(loaded)).hit).toBe(false)
    })

    it('replaces a value, TTL included', async () => {
      const key = randomUUID()
      await cache.set(key, { version: 1 }, 1)
      await cache.set(key, { version: 2 }, 60)

      await sleep(1200)

      expect(await cache.get(key)).toEqual({ version: 2 })
    })

    it('adds a value only where there is none: one of many concurrent adds wins', async () => {
      const key = randomUUID()
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => cache.add(key, { writer: i }, 60)),
      )

      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await cache.get(key)).toEqual({ writer: results.indexOf(true) })
      expect(await cache.add(key, { writer: 'late' }, 60)).toBe(false)
    })

    it('adds over an expired value', async () => {
      const key = randomUUID()
      await cache.set(key, 'old', 1)

      await sleep(1200)

      expect(await cache.add(key, 'new', 60)).toBe(true)
      expect(await cache.get(key)).toBe('new')
    })

    it('invalidates one key, leaving the others', async () => {
      const [gone, kept] = [randomUUID(), randomUUID()]
      await cache.set(gone, 1, 60)
      await cache.set(kept, 2, 60)

      await cache.invalidate(gone)

      expect(await cache.get(gone)).toBeUndefined()
      expect(await cache.get(kept)).toBe(2)
    })

    it('invalidates many keys at once, absent ones and none at all without complaint', async () => {
      const keys = [randomUUID(), randomUUID(), randomUUID()]
      for (const key of keys) await cache.set(key, file, 60)

      await cache.invalidate(...keys, randomUUID())
      await cache.invalidate()

      for (const key of keys) expect(await cache.get(key)).toBeUndefined()
    })

    it('looks up a miss, stores the load with its stamp, then hits', async () => {
      const key = randomUUID()
      const miss = await cache.lookup(key)
      expect(miss.hit).toBe(false)
      if (miss.hit) return

      expect(await cache.setIfUnchanged(key, file, 60, miss.stamp)).toBe(true)

      expect(await cache.lookup(key)).toEqual({ hit: true, value: file })
      expect(await cache.get(key)).toEqual(file)
    })

    it('hits what set() stored, falsy values included', async () => {
      for (const value of [0, '', false, null]) {
        const key = randomUUID()
        await cache.set(key, value, 60)
        expect(await cache.lookup(key)).toEqual({ hit: true, value })
      }
    })

    it('gives lookups the same stamp until something changes the key', async () => {
      const key = randomUUID()
      const stamps = await Promise.all(Array.from({ length: 5 }, () => cache.lookup(key)))
      expect(new Set(stamps.map((s) => !s.hit && s.stamp)).size).toBe(1)

      await cache.invalidate(key)

      const [before, after] = [stamps[0]!, await cache.lookup(key)]
      expect(!before.hit && !after.hit && before.stamp !== after.stamp).toBe(true)
    })

    it('refuses a write-back when the key was invalidated after its lookup', async () => {
      const key = randomUUID()
      const stale = await cache.lookup(key)
      await cache.invalidate(key)
      const fresh = await cache.lookup(key)
      if (stale.hit || fresh.hit) throw new Error('expected misses')

      expect(await cache.setIfUnchanged(key, 'old', 60, stale.stamp)).toBe(false)
      expect(await cache.setIfUnchanged(key, 'new', 60, fresh.stamp)).toBe(true)
      expect(await cache.setIfUnchanged(key, 'old', 60, stale.stamp)).toBe(false)

      expect(await cache.get(key)).toBe('new')
    })

    it('refuses a write-back over a value written since its lookup', async () => {
      const key = randomUUID()
      const miss = await cache.lookup(key)
      if (miss.hit) throw new Error('expected a miss')
      await cache.set(key, 'written', 60)

      expect(await cache.setIfUnchanged(key, 'loaded', 60, miss.stamp)).toBe(false)
      expect(await cache.get(key)).toBe('written')
    })

    it('refuses an invalidated write-back even with no lookup in between', async () => {
      const key = randomUUID()
      const miss = await cache.lookup(key)
      if (miss.hit) throw new Error('expected a miss')
      await cache.invalidate(key)

      expect(await cache.setIfUnchanged(key, 'old', 60, miss.stamp)).toBe(false)
      expect(await cache.get(key)).toBeUndefined()
    })

    it('lets exactly one of many concurrent write-backs of one stamp land', async () => {
      const key = randomUUID()
      const miss = await cache.lookup(key)
      if (miss.hit) throw new Error('expected a miss')
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) => cache.setIfUnchanged(key, i, 60, miss.stamp)),
      )
      expect(results.filter(Boolean)).toHaveLength(1)
      expect(await cache.get(key)).toBe(results.indexOf(true))
    })

    it('retires every entry and every stamp at a new epoch', async () => {
      const [set, added, loaded, pending] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()]
      await cache.set(set, 'set', 60)
      await cache.add(added, 'added', 60)
      const miss = await cache.lookup(loaded)
      if (miss.hit) throw new Error('expected a miss')
      await cache.setIfUnchanged(loaded, 'loaded', 60, miss.stamp)
      const outstanding = await cache.lookup(pending)
      if (outstanding.hit) throw new Error('expected a miss')

      await cache.newEpoch()

      for (const key of [set, added, loaded]) {
        expect(await cache.get(key)).toBeUndefined()
        expect((await cache.lookup(key)).hit).toBe(false)
      }
      expect(await cache.setIfUnchanged(pending, 'old', 60, outstanding.stamp)).toBe(false)
      expect(await cache.add(added, 'again', 60)).toBe(true)
      await cache.set(set, 'again', 60)
      expect(await cache.get(set)).toBe('again')
      expect(await cache.get(added)).toBe('again')
    })

    it('hands out copies, so no caller can change what is cached', async () => {
      const key = randomUUID()
      const value = structuredClone(file)
      await cache.set(key, value, 60)
      value.tags.push('changed after set')

      const read = await cache.get<typeof file>(key)
      read!.owner.deleted = true

      expect(await cache.get(key)).toEqual(file)
    })

    it('returns a Date as its ISO string, as JSON does', async () => {
      const key = randomUUID()
      const at = new Date('2024-05-06T07:08:09.010Z')
      await cache.set(key, { at }, 60)

      expect(await cache.get(key)).toEqual({ at: at.toISOString() })
    })
  })
}
