import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import type { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type EventBus,
  newEvent,
  type UserEvent,
  type WarnLogger,
} from '../../src/events/event-bus.js'
import { MemoryEventBus } from '../../src/events/memory-event-bus.js'
import { RedisEventBus } from '../../src/events/redis-event-bus.js'
import { createLogger } from '../../src/infra/logger.js'
import { createRedisClient } from '../../src/infra/redis.js'
import { CLOSED_REDIS_URL, TEST_REDIS_URL } from '../helpers/redis.js'
import { eventBusContract } from './event-bus.contract.js'
import { until } from './event-bus-polling.js'

const silent = createLogger('silent')

eventBusContract('memory', async () => {
  const bus = new MemoryEventBus({ logger: silent })
  return { busA: bus, busB: bus, teardown: () => bus.close() }
})

eventBusContract('redis', async () => {
  const prefix = `test-${randomUUID()}:`
  const a = redisBus(TEST_REDIS_URL, prefix)
  const b = redisBus(TEST_REDIS_URL, prefix)
  await Promise.all(
    [a, b].flatMap(({ publisher, subscriber }) => [ready(publisher), ready(subscriber)]),
  )
  return {
    busA: a.bus,
    busB: b.bus,
    teardown: async () => {
      await Promise.all([a.close(), b.close()])
    },
  }
})

describe('MemoryEventBus', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('warns about a throwing listener at most once per interval, counting the rest', async () => {
    const logger = { warn: vi.fn() }
    const bus = new MemoryEventBus({ logger })
    const userId = randomUUID()
    const received: UserEvent[] = []
    bus.subscribe(userId, () => {
      throw new Error('listener bug')
    })
    bus.subscribe(userId, (event) => received.push(event))

    for (let i = 0; i < 3; i++) await bus.publish(newEvent('file.deleted', userId, {}))
    await until(() => received.length === 3)
    expect(logger.warn).toHaveBeenCalledTimes(1)

    vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 10_000)
    await bus.publish(newEvent('file.deleted', userId, {}))
    await until(() => received.length === 4)
    expect(logger.warn).toHaveBeenCalledTimes(2)
    expect(logger.warn).toHaveBeenLastCalledWith(
      expect.objectContaining({ suppressed: 2, err: expect.any(Error) }),
      'event listener threw',
    )
  })
})

describe('RedisEventBus', () => {
  it('neither throws nor rejects while Redis is unreachable, and warns once', async () => {
    const logger = { warn: vi.fn() }
    const { bus, close } = redisBus(CLOSED_REDIS_URL, 'test:', logger)
    try {
      const unsubscribe = bus.subscribe(randomUUID(), () => {})
      await expect(bus.publish(newEvent('file.deleted', randomUUID(), {}))).resolves.toBe(undefined)
      await expect(bus.publish(newEvent('file.deleted', randomUUID(), {}))).resolves.toBe(undefined)
      unsubscribe()

      expect(logger.warn).toHaveBeenCalledTimes(1)
      expect(logger.warn).toHaveBeenCalledWith(
        expect.objectContaining({ err: expect.any(Error) }),
        'event not published: Redis unavailable',
      )
    } finally {
      await close()
    }
  })

  it('takes a subscription made before the connection was ready', async () => {
    const { bus, subscriber, close } = redisBus(TEST_REDIS_URL, `test-${randomUUID()}:`)
    try {
      const userId = randomUUID()
      const received: UserEvent[] = []
      expect(subscriber.status).not.toBe('ready')
      bus.subscribe(userId, (event) => received.push(event))

      await untilDelivered(bus, userId, received)
    } finally {
      await close()
    }
  })

  it('restores subscriptions, as they stand, after the connection is dropped', async () => {
    const prefix = `test-${randomUUID()}:`
    const { bus, publisher, subscriber, close } = redisBus(TEST_REDIS_URL, prefix)
    try {
      await Promise.all([ready(publisher), ready(subscriber)])
      const connectionId = await subscriber.client('ID')
      const [kept, joined, left] = [randomUUID(), randomUUID(), randomUUID()]
      const keptEvents: UserEvent[] = []
      const joinedEvents: UserEvent[] = []
      bus.subscribe(kept, (event) => keptEvents.push(event))
      const leave = bus.subscribe(left, () => {})
      await untilDelivered(bus, kept, keptEvents)

      const closed = once(subscriber, 'close')
      await publisher.call('CLIENT', 'KILL', 'ID', String(connectionId))
      await closed
      // Changes made while disconnected, which the connection itself cannot have recorded.
      bus.subscribe(joined, (event) => joinedEvents.push(event))
      leave()

      await untilDelivered(bus, joined, joinedEvents)
      const event = newEvent('upload.completed', kept, {})
      await bus.publish(event)
      const joinedEvent = newEvent('file.deleted', joined, {})
      await bus.publish(joinedEvent)
      // Late probes from untilDelivered may still arrive: wait for this event, not a count.
      await until(() => joinedEvents.some((e) => e.id === joinedEvent.id))
      expect(keptEvents.filter((e) => e.id === event.id)).toEqual([event])

      // ioredis resubscribed `left` on reconnect; its first message undoes that.
      await bus.publish(newEvent('file.deleted', left, {}))
      await until(async () => (await subscriberCount(publisher, `${prefix}events:${left}`)) === 0)
    } finally {
      await close()
    }
  })
})

function redisBus(url: string, prefix: string, logger: WarnLogger = silent) {
  const publisher = createRedisClient(url, silent)
  const subscriber = createRedisClient(url, silent)
  const bus = new RedisEventBus({ publisher, subscriber, prefix, logger })
  return {
    bus,
    publisher,
    subscriber,
    async close() {
      await bus.close()
      publisher.disconnect()
      subscriber.disconnect()
    },
  }
}

async function ready(client: Redis): Promise<void> {
  if (client.status !== 'ready') await once(client, 'ready', { signal: AbortSignal.timeout(5000) })
}

/** Publishes to the user until `received` holds something: the subscription is live. */
async function untilDelivered(bus: EventBus, userId: string, received: UserEvent[]) {
  await until(async () => {
    await bus.publish(newEvent('upload.completed', userId, {}))
    return received.length > 0
  })
}

async function subscriberCount(client: Redis, channel: string): Promise<number> {
  const [, count] = (await client.pubsub('NUMSUB', channel)) as [string, number]
  return count
}
