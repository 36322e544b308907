import type { Redis } from 'ioredis'
import { WarnThrottle } from '../infra/warn-throttle.js'
import {
  type EventBus,
  USER_EVENT_TYPES,
  type UserEvent,
  type UserEventListener,
  type WarnLogger,
} from './event-bus.js'
import { ListenerRegistry } from './listener-registry.js'

export interface RedisEventBusOptions {
  /** Any client; it may be shared with the rest of the app. */
  publisher: Redis
  /** A client for this bus alone: once subscribed, a connection can do little else. */
  subscriber: Redis
  /** Namespaces every channel, so deployments (or test runs) can share one Redis. */
  prefix: string
  logger: WarnLogger
}

/**
 * Carries events between instances over Redis pub/sub, one channel per user, subscribed
 * only while this instance has a listener for that user. Local listeners are reached only
 * through Redis, so an instance's own events arrive once, like everyone else's.
 *
 * The clients come from createRedisClient, which has no offline queue: a command sent while
 * disconnected fails at once. So the registry here, not the connection, is the record of
 * what should be subscribed, and every 'ready' (first connect and each reconnect) subscribes
 * all of it. The caller owns both clients and closes them after close().
 */
export class RedisEventBus implements EventBus {
  private readonly publisher: Redis
  private readonly subscriber: Redis
  private readonly channelPrefix: string
  private readonly warnings: WarnThrottle
  private readonly listeners: ListenerRegistry

  constructor({ publisher, subscriber, prefix, logger }: RedisEventBusOptions) {
    this.publisher = publisher
    this.subscriber = subscriber
    this.channelPrefix = `${prefix}events:`
    this.warnings = new WarnThrottle(logger)
    this.listeners = new ListenerRegistry((err, event) =>
      this.warnings.warn({ err, type: event.type }, 'event listener threw'),
    )
    subscriber.on('message', this.onMessage)
    subscriber.on('ready', this.onReady)
  }

  async publish(event: UserEvent): Promise<void> {
    const message = JSON.stringify(event)
    try {
      await this.publisher.publish(this.channelPrefix + event.user_id, message)
    } catch (err) {
      this.warnings.warn({ err, type: event.type }, 'event not published: Redis unavailable')
    }
  }

  subscribe(userId: string, listener: UserEventListener): () => void {
    const { first, remove } = this.listeners.add(userId, listener)
    if (first) this.send('subscribe', [userId])
    return () => {
      if (remove()) this.send('unsubscribe', [userId])
    }
  }

  async close(): Promise<void> {
    this.subscriber.off('message', this.onMessage)
    this.subscriber.off('ready', this.onReady)
    const userIds = this.listeners.userIds()
    this.listeners.clear()
    this.send('unsubscribe', userIds)
  }

  private readonly onReady = () => {
    this.send('subscribe', this.listeners.userIds())
  }

  private readonly onMessage = (channel: string, message: string) => {
    if (!channel.startsWith(this.channelPrefix)) return
    const userId = channel.slice(this.channelPrefix.length)
    if (!this.listeners.has(userId)) {
      // An unsubscribe that could not be sent while disconnected, undone by ioredis
      // resubscribing on reconnect: finish it now.
      this.send('unsubscribe', [userId])
      return
    }
    const event = parseEvent(message)
    if (event?.user_id !== userId) {
      this.warnings.warn({ channel }, 'malformed event ignored')
      return
    }
    this.listeners.deliver(event)
  }

  private send(command: 'subscribe' | 'unsubscribe', userIds: string[]) {
    // Without a connection the command would only fail; the next 'ready' catches up.
    if (userIds.length === 0 || this.subscriber.status !== 'ready') return
    const channels = userIds.map((userId) => this.channelPrefix + userId)
    this.subscriber[command](...channels).catch((err: unknown) =>
      this.warnings.warn({ err, command }, 'event subscription not updated: Redis unavailable'),
    )
  }
}

function parseEvent(message: string): UserEvent | undefined {
  let value: unknown
  try {
    value = JSON.parse(message)
  } catch {
    return undefined
  }
  return isUserEvent(value) ? value : undefined
}

function isUserEvent(value: unknown): value is UserEvent {
  if (typeof value !== 'object' || value === null) return false
  const { type, id, at, user_id, data } = value as Record<string, unknown>
  return (
    (USER_EVENT_TYPES as readonly unknown[]).includes(type) &&
    typeof id === 'string' &&
    typeof at === 'string' &&
    typeof user_id === 'string' &&
    typeof data === 'object' &&
    data !== null &&
    !Array.isArray(data)
  )
}
