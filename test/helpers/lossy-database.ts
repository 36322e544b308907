import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { Database } from '../../src/infra/db.js'
import type { DB } from '../../src/schema.js'

type Matcher = (statement: string, parameters: readonly unknown[]) => boolean

interface TrackedClient extends pg.PoolClient {
  inTransaction?: boolean
  loseCommit?: boolean
}

/**
 * A database whose next reply to a matching statement is lost: the statement runs (and,
 * inside a transaction, so does the COMMIT that follows it), then the caller gets the
 * error a dropped connection gives. That is the one fault a client cannot tell from a
 * failure, so code must find out from the data what happened.
 */
export function lossyDatabase(url: string) {
  let armed: Matcher | undefined
  const lost = () => new Error('Connection terminated unexpectedly')
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  })
  const connect = pool.connect.bind(pool) as () => Promise<TrackedClient>
  const wrapped = new WeakSet<pg.PoolClient>()
  pool.connect = (async () => {
    const client = await connect()
    if (wrapped.has(client)) return client
    wrapped.add(client)
    const query = client.query.bind(client) as (s: string, p?: unknown[]) => Promise<unknown>
    client.query = (async (statement: string, parameters: unknown[] = []) => {
      const result = await query(statement, parameters)
      if (statement === 'begin') client.inTransaction = true
      if (statement === 'commit' || statement === 'rollback') {
        client.inTransaction = false
        if (statement === 'commit' && client.loseCommit) {
          client.loseCommit = false
          throw lost()
        }
      }
      if (armed?.(statement, parameters)) {
        armed = undefined
        if (client.inTransaction) client.loseCommit = true
        else throw lost()
      }
      return result
    }) as typeof client.query
    return client
  }) as typeof pool.connect
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  const database: Database<DB> = {
    db,
    kind: 'postgres',
    async ping() {
      await sql`select 1`.execute(db)
    },
    close: () => db.destroy(),
  }
  return {
    database,
    /** Loses the reply that commits the next statement `matches` accepts. */
    loseReplyTo(matches: Matcher) {
      armed = matches
    },
  }
}
