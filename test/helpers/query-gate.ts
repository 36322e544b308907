import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs } from 'kysely'
import type { Database } from '../../src/infra/db.js'

export interface Pause {
  /** Resolves once the armed query has run and its caller is held. */
  reached: Promise<void>
  /** Resolves when another query is issued while the caller is held. */
  otherQuery: Promise<void>
  /** Lets the held caller go on. */
  release(): void
}

interface Held extends Pause {
  remaining: number
  released: Promise<void>
  arrive(): void
  issue(): void
}

/**
 * Holds a caller between two statements, to land a competing request at an exact step.
 * It holds after a query has run and before its result is handed back, so the caller keeps
 * its connection (and, in a transaction, its locks) exactly as it would between steps.
 * Statements Kysely runs itself (begin, commit) are not counted.
 */
export class QueryGate implements KyselyPlugin {
  private armed?: Held
  private held?: Held

  /** Wraps a database so its queries pass through this gate. */
  wrap = <DB>(database: Database<DB>): Database<DB> => ({
    ...database,
    db: database.db.withPlugin(this),
  })

  /** Holds the caller of the `n`-th query (1-based) issued from now on. */
  pauseAfter(n: number): Pause {
    const held = { remaining: n } as Held
    held.reached = new Promise((r) => {
      held.arrive = r
    })
    held.otherQuery = new Promise((r) => {
      held.issue = r
    })
    held.released = new Promise((r) => {
      held.release = r
    })
    this.armed = held
    return held
  }

  /** Forgets an armed pause that was never reached. */
  disarm() {
    this.armed = undefined
  }

  transformQuery({ node }: PluginTransformQueryArgs) {
    this.held?.issue()
    return node
  }

  async transformResult({ result }: PluginTransformResultArgs) {
    const held = this.armed
    if (held && --held.remaining === 0) {
      this.armed = undefined
      this.held = held
      held.arrive()
      await held.released
      this.held = undefined
    }
    return result
  }
}
