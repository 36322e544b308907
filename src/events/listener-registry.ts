import type { UserEvent, UserEventListener } from './event-bus.js'

/** One subscription; its own identity lets one function be subscribed twice. */
type Entry = { listener: UserEventListener }

/** Local listeners by user, with the isolation both adapters promise. */
export class ListenerRegistry {
  private readonly byUser = new Map<string, Set<Entry>>()

  constructor(private readonly onListenerError: (err: unknown, event: UserEvent) => void) {}

  /**
   * Adds a listener. `first` says whether the user had none before; `remove` says whether
   * it took away the user's last one, and does nothing when called again.
   */
  add(userId: string, listener: UserEventListener): { first: boolean; remove: () => boolean } {
    const entry: Entry = { listener }
    let entries = this.byUser.get(userId)
    const first = entries === undefined
    if (!entries) {
      entries = new Set()
      this.byUser.set(userId, entries)
    }
    entries.add(entry)
    const remove = () => {
      const current = this.byUser.get(userId)
      if (!current?.delete(entry) || current.size > 0) return false
      this.byUser.delete(userId)
      return true
    }
    return { first, remove }
  }

  has(userId: string): boolean {
    return this.byUser.has(userId)
  }

  userIds(): string[] {
    return [...this.byUser.keys()]
  }

  clear(): void {
    this.byUser.clear()
  }

  deliver(event: UserEvent): void {
    // A snapshot, so listeners that subscribe or unsubscribe while called do not change
    // who receives this event.
    for (const { listener } of [...(this.byUser.get(event.user_id) ?? [])]) {
      try {
        // An async listener's rejection would otherwise be unhandled and end the process.
        const result: unknown = listener(event)
        if (result instanceof Promise) result.catch((err) => this.onListenerError(err, event))
      } catch (err) {
        this.onListenerError(err, event)
      }
    }
  }
}
