import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type EventBus,
  newEvent,
  type UserEvent,
  type UserEventListener,
} from '../../src/events/event-bus.js'
import { until } from './event-bus-polling.js'

/** The behaviour every EventBus adapter must have; each adapter's test file runs it. */
export function eventBusContract(
  name: string,
  /** Two buses as two instances would hold them; one bus twice for an in-process adapter. */
  setup: () => Promise<{ busA: EventBus; busB: EventBus; teardown(): Promise<void> }>,
) {
  describe(`EventBus contract: ${name}`, () => {
    let busA: EventBus
    let busB: EventBus
    let teardown: (() => Promise<void>) | undefined

    beforeAll(async () => {
      ;({ busA, busB, teardown } = await setup())
    })
    afterAll(async () => {
      await teardown?.()
    })

    /**
     * Resolves once events published on busA reach `bus`'s listeners for the user, since a
     * subscription may take effect some time after subscribe() returns.
     */
    async function untilListening(bus: EventBus, userId: string) {
      let heard = false
      const unsubscribe = bus.subscribe(userId, (event) => {
        if (isProbe(event)) heard = true
      })
      try {
        await until(async () => {
          await busA.publish(newEvent('upload.completed', userId, { probe: true }))
          return heard
        })
      } finally {
        unsubscribe()
      }
    }

    /** Publishes a probe on busA and waits for every recorder to see it: all before it arrived. */
    async function flush(userId: string, ...recorders: Recorder[]) {
      const probe = newEvent('upload.completed', userId, { probe: true })
      await busA.publish(probe)
      await until(() => recorders.every((recorder) => recorder.seen.has(probe.id)))
    }

    it('delivers an event to a subscriber of its user', async () => {
      const userId = randomUUID()
      const recorder = record()
      busB.subscribe(userId, recorder.listener)
      await untilListening(busB, userId)

      const event = newEvent('upload.completed', userId, { file_id: randomUUID(), size: 42 })
      await busA.publish(event)

      await until(() => recorder.events.length === 1)
      expect(recorder.events).toEqual([event])
    })

    it("delivers nothing to another user's subscriber", async () => {
      const owner = randomUUID()
      const other = randomUUID()
      const recorder = record()
      busB.subscribe(other, recorder.listener)
      await untilListening(busB, other)

      await busA.publish(newEvent('file.deleted', owner, { file_id: randomUUID() }))
      await flush(other, recorder)

      expect(recorder.events).toEqual([])
    })

    it('delivers to each of several subscribers of one user', async () => {
      const userId = randomUUID()
      const recorders = [record(), record(), record()]
      for (const recorder of recorders) busB.subscribe(userId, recorder.listener)
      await untilListening(busB, userId)

      const event = newEvent('share.downloaded', userId, { share_id: randomUUID() })
      await busA.publish(event)

      await until(() => recorders.every((recorder) => recorder.events.length === 1))
      for (const recorder of recorders) expect(recorder.events).toEqual([event])
    })

    it('stops delivering to a listener once unsubscribed, and only to that one', async () => {
      const userId = randomUUID()
      const leaving = record()
      const staying = record()
      const unsubscribe = busB.subscribe(userId, leaving.listener)
      busB.subscribe(userId, staying.listener)
      await untilListening(busB, userId)

      unsubscribe()
      unsubscribe()
      await busA.publish(newEvent('file.expired', userId, {}))

      await until(() => staying.events.length === 1)
      expect(leaving.events).toEqual([])
    })

    it('delivers again after the last listener of a user left and a new one came', async () => {
      const userId = randomUUID()
      busB.subscribe(userId, record().listener)()
      const recorder = record()
      busB.subscribe(userId, recorder.listener)
      await untilListening(busB, userId)

      const event = newEvent('upload.failed', userId, { reason: 'too_large' })
      await busA.publish(event)

      await until(() => recorder.events.length === 1)
      expect(recorder.events).toEqual([event])
    })

    it('delivers an event published on one bus exactly once to listeners on each', async () => {
      const userId = randomUUID()
      const onA = record()
      const onB = record()
      busA.subscribe(userId, onA.listener)
      busB.subscribe(userId, onB.listener)
      await untilListening(busA, userId)
      await untilListening(busB, userId)

      const event = newEvent('upload.completed', userId, { file_id: randomUUID() })
      await busA.publish(event)
      await flush(userId, onA, onB)

      expect(onA.events).toEqual([event])
      expect(onB.events).toEqual([event])
    })

    it('keeps delivering to other listeners when one throws', async () => {
      const userId = randomUUID()
      const before = record()
      const after = record()
      busB.subscribe(userId, before.listener)
      busB.subscribe(userId, () => {
        throw new Error('listener bug')
      })
      busB.subscribe(userId, async () => {
        throw new Error('async listener bug')
      })
      busB.subscribe(userId, after.listener)
      await untilListening(busB, userId)

      await busA.publish(newEvent('file.deleted', userId, {}))
      await busA.publish(newEvent('file.expired', userId, {}))

      await until(() => before.events.length === 2 && after.events.length === 2)
    })

    it("delivers one user's events in the order they were published", async () => {
      const userId = randomUUID()
      const recorder = record()
      busB.subscribe(userId, recorder.listener)
      await untilListening(busB, userId)

      const events = Array.from({ length: 100 }, (_, seq) =>
        newEvent('upload.completed', userId, { seq }),
      )
      await Promise.all(events.map((event) => busA.publish(event)))

      await until(() => recorder.events.length === events.length)
      expect(recorder.events.map((event) => event.id)).toEqual(events.map((event) => event.id))
    })

    it('carries data as JSON, giving listeners a copy', async () => {
      const userId = randomUUID()
      const recorder = record()
      busB.subscribe(userId, recorder.listener)
      await untilListening(busB, userId)

      const at = new Date('2030-01-02T03:04:05.678Z')
      const event = newEvent('file.expired', userId, { expired_at: at, gone: undefined })
      await busA.publish(event)

      await until(() => recorder.events.length === 1)
      expect(recorder.events[0]).toEqual({ ...event, data: { expired_at: at.toISOString() } })
      expect(recorder.events[0]).not.toBe(event)
    })

    it('does not reject a publish when no one listens', async () => {
      await expect(busA.publish(newEvent('file.deleted', randomUUID(), {}))).resolves.toBe(
        undefined,
      )
    })
  })
}

interface Recorder {
  /** What a test published, without probes. */
  events: UserEvent[]
  /** The id of every event received, probes included. */
  seen: Set<string>
  listener: UserEventListener
}

function record(): Recorder {
  const events: UserEvent[] = []
  const seen = new Set<string>()
  return {
    events,
    seen,
    listener: (event) => {
      seen.add(event.id)
      if (!isProbe(event)) events.push(event)
    },
  }
}

function isProbe(event: UserEvent): boolean {
  return event.data.probe === true
}
