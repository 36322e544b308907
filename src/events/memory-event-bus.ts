import { WarnThrottle } from '../infra/warn-throttle.js'
import type { EventBus, UserEvent, UserEventListener, WarnLogger } from './event-bus.js'
import { ListenerRegistry } from './listener-registry.js'

/** The bus for a single instance without Redis. */
export class MemoryEventBus implements EventBus {
  private readonly listeners: ListenerRegistry

  constructor({ logger }: { logger: WarnLogger }) {
    const warnings = new WarnThrottle(logger)
    this.listeners = new ListenerRegistry((err, event) =>
      warnings.warn({ err, type: event.type }, 'event listener threw'),
    )
  }

  async publish(event: UserEvent): Promise<void> {
    // Through JSON, as Redis carries it, so code that works here works there: listeners
    // cannot share objects with the publisher, and non-JSON data shows up in tests.
    const copy = JSON.parse(JSON.stringify(event)) as UserEvent
    // Queued rather than called at once, so listeners run after the publisher moves on,
    // as they would with Redis.
    queueMicrotask(() => this.listeners.deliver(copy))
  }

  subscribe(userId: string, listener: UserEventListener): () => void {
    const { remove } = this.listeners.add(userId, listener)
    return () => {
      remove()
    }
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }
}
