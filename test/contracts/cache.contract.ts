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

    it('forgets a value once its TTL has passed', async () => {
      const key = randomUUID()
      await cache.set(key, file, 1)
      expect(await cache.get(key)).toEqual(file)

      await sleep(1200)

      expect(await cache.get(key)).toBeUndefined()
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

    it('deletes one key, leaving the others', async () => {
      const [gone, kept] = [randomUUID(), randomUUID()]
      await cache.set(gone, 1, 60)
      await cache.set(kept, 2, 60)

      await cache.delete(gone)

      expect(await cache.get(gone)).toBeUndefined()
      expect(await cache.get(kept)).toBe(2)
    })

    it('deletes many keys at once, absent ones and none at all without complaint', async () => {
      const keys = [randomUUID(), randomUUID(), randomUUID()]
      for (const key of keys) await cache.set(key, file, 60)

      await cache.delete(...keys, randomUUID())
      await cache.delete()

      for (const key of keys) expect(await cache.get(key)).toBeUndefined()
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
