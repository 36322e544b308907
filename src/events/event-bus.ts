import { randomUUID } from 'node:crypto'

export const USER_EVENT_TYPES = [
  'upload.completed',
  'upload.failed',
  'file.deleted',
  'file.expired',
  'share.downloaded',
  // A session or the whole account lost its access: sockets close, guards forget verdicts.
  'access.revoked',
] as const

export type UserEventType = (typeof USER_EVENT_TYPES)[number]

/** A notification for one user. Plain JSON, because it crosses process boundaries. */
export type UserEvent = {
  type: UserEventType
  /** A UUID, so a client can tell a redelivered event from a new one. */
  id: string
  /** ISO-8601 UTC time the event happened. */
  at: string
  user_id: string
  data: Record<string, unknown>
}

export type UserEventListener = (event: UserEvent) => void

export type { WarnLogger } from '../infra/warn-throttle.js'

export function newEvent(
  type: UserEventType,
  userId: string,
  data: Record<string, unknown>,
): UserEvent {
  return { type, id: randomUUID(), at: new Date().toISOString(), user_id: userId, data }
}

/**
 * Carries user events to the listeners of every instance: through Redis pub/sub when there
 * is one, in process otherwise. Delivery is best-effort and at most once: an event published
 * while the transport is down, or before a new subscription has taken effect, is lost, so
 * listeners must treat events as hints and read the truth from the database. Every adapter
 * passes test/contracts/event-bus.contract.ts.
 */
export interface EventBus {
  /**
   * Sends the event to every listener of `event.user_id`, on any instance. Resolves once it
   * is handed to the transport, not once delivered. Never rejects because the transport
   * failed (that is logged); does throw if `data` cannot be serialised as JSON.
   */
  publish(event: UserEvent): Promise<void>
  /**
   * Calls `listener` with each event for `userId`, asynchronously, in the order the transport
   * received them. Each listener gets a JSON copy (a Date in `data` arrives as its ISO
   * string). Returns the function that ends this subscription; calling it again does nothing.
   */
  subscribe(userId: string, listener: UserEventListener): () => void
  /** Stops all delivery. The bus does not own its connections: close them afterwards. */
  close(): Promise<void>
}
