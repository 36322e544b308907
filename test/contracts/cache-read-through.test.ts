import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import type { Cache } from '../../src/infra/cache/cache.js'
import { GuardedCache } from '../../src/infra/cache/guarded-cache.js'
import { MemoryCache } from '../../src/infra/cache/memory-cache.js'
import { ReadThroughCache } from '../../src/infra/cache/read-through-cache.js'
import { RedisCache } from '../../src/infra/cache/redis-cache.js'
import { createRedisClient } from '../../src/infra/redis.js'
import { CLOSED_REDIS_URL, connectTestRedis, type TestRedis } from '../helpers/redis.js'

const TTL = 60

/** A loader over one mutable row that counts its calls. */
function source<T>(initial: T | undefined) {
  const row = { value: initial, loads: 0 }
  const load = vi.fn(async () => {
    row.loads++
    return row.value
  })
  return { row, load }
}

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

function quietLogger() {
  return { warn: vi.fn() }
}

/** A Cache whose every call answers with `answer()`. */
function failing(answer: () => Promise<never>): Cache {
  return {
    get: answer,
    set: answer,
    add: answer,
    lookup: answer,
    setIfUnchanged: answer,
    invalidate: answer,
    newEpoch: answer,
  }
}

/**
 * The shared cache as one instance reaches it: a link the test can cut, or hold before any
 * call. Counts the epoch bumps that got through.
 */
function link(cache: Cache) {
  const state = { down: false, epochs: 0, before: async (_call: string | symbol) => {} }
  const linked = new Proxy(cache, {
    get(target, property) {
      const method = Reflect.get(target, property) as (...args: unknown[]) => Promise<unknown>
      return async (...args: unknown[]) => {
        await state.before(property)
        if (state.down) throw new Error('link down')
        if (property === 'newEpoch') state.epochs++
        return method.apply(target, args)
      }
    },
  })
  return { cache: linked, state }
}

/** `cache`, with every answer of one operation pushed to `answers` as it is asked. */
function recording(cache: Cache, operation: 'lookup' | 'setIfUnchanged') {
  const answers: Promise<unknown>[] = []
  const recorded = new Proxy(cache, {
    get(target, property) {
      const method = Reflect.get(target, property) as (...args: unknown[]) => Promise<unknown>
      return (...args: unknown[]) => {
        const answer = method.apply(target, args)
        if (property === operation) answers.push(answer)
        return answer
      }
    },
  })
  return { cache: recorded, answers }
}

describe.each([
  { name: 'memory', connect: async () => ({ cache: new MemoryCache(), close: async () => {} }) },
  {
    name: 'redis',
    connect: async () => {
      const redis: TestRedis = await connectTestRedis()
      return { cache: new RedisCache(redis.client, redis.prefix), close: redis.close }
    },
  },
])('ReadThroughCache over $name', ({ connect }) => {
  let cache: Cache
  let close: () => Promise<void>
  let logger: ReturnType<typeof quietLogger>
  let reader: ReadThroughCache

  beforeAll(async () => {
    ;({ cache, close } = await connect())
    logger = quietLogger()
    reader = new ReadThroughCache({ cache: new GuardedCache({ cache, logger }) })
  })
  afterAll(() => close())

  it('loads on a miss, then answers from the cache', async () => {
    const key = randomUUID()
    const { load } = source({ id: key, size: 1 })

    expect(await reader.getOrLoad(key, TTL, load)).toEqual({ id: key, size: 1 })
    expect(await reader.getOrLoad(key, TTL, load)).toEqual({ id: key, size: 1 })

    expect(load).toHaveBeenCalledTimes(1)
    expect(await cache.get(key)).toEqual({ id: key, size: 1 })
    expect(logger.warn).not.toHaveBeenCalled()
  })

  it('loads once for 50 concurrent misses of one key', async () => {
    const key = randomUUID()
    const { load } = source('value')

    const results = await Promise.all(
      Array.from({ length: 50 }, () => reader.getOrLoad(key, TTL, load)),
    )

    expect(results).toEqual(Array(50).fill('value'))
    expect(load).toHaveBeenCalledTimes(1)
  })

  it('does not cache a missing row', async () => {
    const key = randomUUID()
    const { row, load } = source<string>(undefined)

    expect(await reader.getOrLoad(key, TTL, load)).toBeUndefined()
    row.value = 'created'

    expect(await reader.getOrLoad(key, TTL, load)).toBe('created')
  })

  it('shares a failing load with its joiners, then tries again', async () => {
    const key = randomUUID()
    const { cache: counted, answers: lookups } = recording(cache, 'lookup')
    const here = new ReadThroughCache({ cache: new GuardedCache({ cache: counted, logger }) })
    const failing = deferred()
    const load = vi
      .fn()
      .mockImplementationOnce(async () => {
        await failing.promise
        throw new Error('db down')
      })
      .mockResolvedValue('back')

    const reads = [here.getOrLoad(key, TTL, load), here.getOrLoad(key, TTL, load)]
    // Both misses have their stamp while the load is still under way.
    await vi.waitFor(() => expect(lookups).toHaveLength(2))
    await Promise.all(lookups)
    // A macrotask: every continuation of those answers has run, so both reads have joined.
    await new Promise((resolve) => setImmediate(resolve))
    expect(load).toHaveBeenCalledTimes(1)
    failing.resolve()

    for (const read of reads) await expect(read).rejects.toThrow('db down')
    expect(await here.getOrLoad(key, TTL, load)).toBe('back')
    expect(load).toHaveBeenCalledTimes(2)
  })

  it('reloads after invalidate', async () => {
    const [key, other] = [randomUUID(), randomUUID()]
    const { row, load } = source('old')
    await reader.getOrLoad(key, TTL, load)
    await reader.getOrLoad(other, TTL, load)

    row.value = 'new'
    await reader.invalidate(key, other)

    expect(await reader.getOrLoad(key, TTL, load)).toBe('new')
    expect(await reader.getOrLoad(other, TTL, load)).toBe('new')
    expect(load).toHaveBeenCalledTimes(4)
  })

  it('never stores what a load read before a racing invalidate', async () => {
    const key = randomUUID()
    const row = { value: 'old' }
    const started = deferred()
    const release = deferred()
    const slowLoad = async () => {
      const read = row.value
      started.resolve()
      await release.promise
      return read
    }

    const stale = reader.getOrLoad(key, TTL, slowLoad)
    await started.promise
    row.value = 'new'
    await reader.invalidate(key)
    // Starts after the invalidation, so it must not join the stale flight (still held up).
    const fresh = reader.getOrLoad(key, TTL, async () => row.value)
    expect(await Promise.race([fresh, sleep(500, 'joined the stale flight')])).toBe('new')
    release.resolve()

    expect(await stale).toBe('old')
    expect(await cache.get(key)).toBe('new')
    expect(await reader.getOrLoad(key, TTL, async () => 'unexpected load')).toBe('new')
  })
  it('never stores what a load read before an invalidation on another instance', async () => {
    const { cache: recorded, answers: writeBacks } = recording(cache, 'setIfUnchanged')
    const here = new ReadThroughCache({ cache: new GuardedCache({ cache: recorded, logger }) })
    const elsewhere = new ReadThroughCache({ cache: new GuardedCache({ cache, logger }) })
    const key = randomUUID()
    const row = { value: 'old' }
    const started = deferred()
    const release = deferred()
    const stale = here.getOrLoad(key, TTL, async () => {
      const read = row.value
      started.resolve()
      await release.promise
      return read
    })
    await started.promise
    row.value = 'new'
    await elsewhere.invalidate(key)
    // Began after the invalidation: it must load afresh, not join the load held up above.
    const fresh = here.getOrLoad(key, TTL, async () => row.value)
    expect(await Promise.race([fresh, sleep(500, 'joined the stale flight')])).toBe('new')
    release.resolve()
    expect(await stale).toBe('old')

    await vi.waitFor(() => expect(writeBacks).toHaveLength(2))
    expect(await Promise.all(writeBacks)).toEqual([true, false])
    expect(await elsewhere.getOrLoad(key, TTL, async () => 'unexpected load')).toBe('new')
  })
})

describe('ReadThroughCache over a failing cache', () => {
  const rejecting = failing(() => Promise.reject(new Error('cache down')))
  const hanging = failing(() => new Promise(() => {}))

  it.each([
    { name: 'rejects', cache: rejecting },
    { name: 'never answers', cache: hanging },
  ])('returns loaded values and warns when the cache $name', async ({ cache }) => {
    const logger = quietLogger()
    const reader = new ReadThroughCache({
      cache: new GuardedCache({ cache, logger, timeoutMs: 50 }),
    })
    const { load } = source({ id: 1 })

    expect(await reader.getOrLoad('k', TTL, load)).toEqual({ id: 1 })
    expect(await reader.getOrLoad('k', TTL, load)).toEqual({ id: 1 })
    await expect(reader.invalidate('k')).resolves.toBeUndefined()

    expect(load).toHaveBeenCalledTimes(2)
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: expect.any(Error) }),
      expect.any(String),
    )
  })

  it('warns once per interval, not once per failure', async () => {
    const logger = quietLogger()
    const reader = new ReadThroughCache({ cache: new GuardedCache({ cache: rejecting, logger }) })

    for (let i = 0; i < 10; i++) await reader.getOrLoad(randomUUID(), TTL, async () => i)

    expect(logger.warn).toHaveBeenCalledTimes(1)
  })

  describe('with Redis unreachable', () => {
    const client = createRedisClient(CLOSED_REDIS_URL, pino({ level: 'silent' }))
    afterAll(() => client.disconnect())

    it('answers every read from the source, promptly, without throwing', async () => {
      const logger = quietLogger()
      const reader = new ReadThroughCache({
        cache: new GuardedCache({ cache: new RedisCache(client, 'x:'), logger }),
      })
      const { load } = source('from the database')

      for (let i = 0; i < 5; i++) {
        const startedAt = performance.now()
        expect(await reader.getOrLoad('file', TTL, load)).toBe('from the database')
        expect(performance.now() - startedAt).toBeLessThan(1000)
      }
      await expect(reader.invalidate('file')).resolves.toBeUndefined()

      expect(load).toHaveBeenCalledTimes(5)
      expect(logger.warn).toHaveBeenCalled()
    })
  })
})

describe('GuardedCache after a write it could not deliver', () => {
  const key = 'file:1'
  let shared: Cache
  let a: ReturnType<typeof link>
  let guardedA: GuardedCache
  let instanceA: ReadThroughCache
  let instanceB: ReadThroughCache
  let row: { value: string | undefined; loads: number }
  let load: () => Promise<string | undefined>

  beforeEach(async () => {
    shared = new MemoryCache()
    a = link(shared)
    guardedA = new GuardedCache({ cache: a.cache, logger: quietLogger() })
    instanceA = new ReadThroughCache({ cache: guardedA })
    instanceB = new ReadThroughCache({
      cache: new GuardedCache({ cache: shared, logger: quietLogger() }),
    })
    ;({ row, load } = source('old'))
    await shared.set(key, 'old', TTL)
  })

  /** A changes the row while its link to the cache is down. */
  async function changeWhileCut() {
    a.state.down = true
    row.value = 'new'
    await expect(instanceA.invalidate(key)).resolves.toBeUndefined()
  }

  it('reads from the source until a new epoch has retired every earlier entry', async () => {
    await changeWhileCut()
    expect(await instanceA.getOrLoad(key, TTL, load)).toBe('new')
    // Still cut: A neither serves nor stores anything from the cache.
    expect(await instanceA.getOrLoad(key, TTL, load)).toBe('new')
    expect(row.loads).toBe(2)

    a.state.down = false
    expect(await instanceA.getOrLoad(key, TTL, load)).toBe('new')

    expect(a.state.epochs).toBe(1)
    expect(await instanceB.getOrLoad(key, TTL, load)).toBe('new')
  })

  it('bumps the epoch on recover(), once for any number of callers', async () => {
    await changeWhileCut()
    a.state.down = false

    await Promise.all([
      guardedA.recover(),
      guardedA.recover(),
      ...Array.from({ length: 10 }, () => instanceA.getOrLoad(key, TTL, load)),
    ])

    expect(a.state.epochs).toBe(1)
    expect(await instanceB.getOrLoad(key, TTL, load)).toBe('new')
  })

  it('turns dirty on a failed set too (a list version that was not replaced)', async () => {
    await shared.set('version', 'v1', TTL)
    a.state.down = true
    await guardedA.set('version', 'v2', TTL)
    expect(await guardedA.get('version')).toBeUndefined()

    a.state.down = false
    await guardedA.recover()

    expect(await shared.get('version')).toBeUndefined()
    expect(await guardedA.add('version', 'v3', TTL)).toBe(true)
  })

  it('stays dirty while the bump fails, and then serves nothing from before it', async () => {
    await changeWhileCut()
    a.state.down = false
    let refuse = true
    a.state.before = async (call) => {
      if (call === 'newEpoch' && refuse) throw new Error('epoch refused')
    }

    for (let i = 0; i < 3; i++) expect(await instanceA.getOrLoad(key, TTL, load)).toBe('new')
    expect(row.loads).toBe(3)
    expect(await shared.get(key)).toBe('old')

    refuse = false
    expect(await instanceA.getOrLoad(key, TTL, load)).toBe('new')
    expect(await shared.get(key)).not.toBe('old')
  })

  it('stays dirty when an earlier write fails while the bump is under way', async () => {
    // No timer: the held calls below must wait for the test, not time out.
    guardedA = new GuardedCache({ cache: a.cache, logger: quietLogger(), timeoutMs: 0 })
    instanceA = new ReadThroughCache({ cache: guardedA })
    const [slowSent, slowWrite, bumpSent, bump] = [deferred(), deferred(), deferred(), deferred()]
    a.state.before = async (call) => {
      if (call === 'invalidate' && !a.state.down) {
        slowSent.resolve()
        await slowWrite.promise
      }
      if (call === 'newEpoch') {
        bumpSent.resolve()
        await bump.promise
      }
    }
    const slow = instanceA.invalidate('file:2')
    await slowSent.promise
    await changeWhileCut()
    a.state.down = false
    const recovering = guardedA.recover()
    await bumpSent.promise
    // The slow write fails after the bump was sent: the bump may have landed before it.
    a.state.down = true
    slowWrite.resolve()
    await slow
    a.state.down = false
    bump.resolve()
    await recovering
    expect(a.state.epochs).toBe(1)

    a.state.before = async () => {}
    await instanceA.getOrLoad(key, TTL, load)

    expect(a.state.epochs).toBe(2)
  })
})
