import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import type { Logger } from './logger.js'
import { pglitePool } from './pglite-pool.js'
import { makePrivate } from './private-files.js'

const INT8_OID = 20

export interface Database<DB> {
  db: Kysely<DB>
  kind: 'postgres' | 'pglite'
  /** Resolves when the database answers a trivial query within `timeoutMs`; rejects otherwise. */
  ping(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

export interface DatabaseOptions {
  url?: string
  dataDir: string
  logger: Logger
  poolSize?: number
  /** Called for every query run; tests count them, or run one again under EXPLAIN. */
  onQuery?: (sql: string, parameters: readonly unknown[]) => void
}

/** PostgreSQL through `pg` when a URL is given, otherwise PGlite persisted under dataDir/db. */
export async function openDatabase<DB>(options: DatabaseOptions): Promise<Database<DB>> {
  const { pool, kind } = options.url
    ? { pool: postgresPool(options), kind: 'postgres' as const }
    : { pool: await embeddedPool(options.dataDir), kind: 'pglite' as const }
  const { onQuery } = options
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({ pool }),
    log: onQuery ? (event) => onQuery(event.query.sql, event.query.parameters) : undefined,
  })
  return {
    db,
    kind,
    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs)
      })
      try {
        await Promise.race([sql`select 1`.execute(db), timeout])
      } finally {
        clearTimeout(timer)
      }
    },
    close: () => db.destroy(),
  }
}

/**
 * Opens the text of a query that each connection prepares once, as a named statement, and
 * then only binds and runs: PostgreSQL plans it on its first runs, then settles on one plan
 * when a plan for any values costs no more than the plans it made for the values given. A
 * comment, so any other driver (PGlite) runs the text as it is. Mark only queries whose best
 * plan does not depend on their values (see FilesRepository's list pages).
 */
export const PREPARED = '/* prepared */ '

/**
 * Named statements a connection keeps at most; texts past them run unnamed, planned each
 * time. The server holds each one's plan for the connection's life, and the texts of
 * prepared list pages vary with the page size a client asks for.
 */
const MAX_STATEMENTS = 64

/**
 * A pg client whose `query(text, values)`, the form Kysely calls, runs on pg's callback path
 * under one promise of its own. Through pg's promise form, the objects of a query (its rows'
 * text above all) survived young-generation collections: in a loop of list-page queries (50
 * callers, 10 connections), 43% of the bytes allocated were promoted to the old generation,
 * which then needed full collections, against 0.4% this way, at ~20 µs less CPU per query.
 * Kysely adds the caller's stack to an error, as pg's promise form did. Texts opened with
 * PREPARED run as named statements of the connection.
 */
class CallbackClient extends pg.Client {
  private readonly statements = new Map<string, string>()

  // biome-ignore lint/suspicious/noExplicitAny: pg's own overloads; only Kysely's form changes
  override query(config: any, values?: any, callback?: any): any {
    if (typeof config !== 'string' || !Array.isArray(values) || callback !== undefined) {
      return super.query(config, values, callback)
    }
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, result: pg.QueryResult) =>
        err ? reject(err) : resolve(result)
      const name = config.startsWith(PREPARED) ? this.statementName(config) : undefined
      if (name === undefined) return super.query(config, values, done)
      super.query({ name, text: config, values }, done)
    })
  }

  private statementName(text: string): string | undefined {
    let name = this.statements.get(text)
    if (name === undefined && this.statements.size < MAX_STATEMENTS) {
      name = `satchel_${this.statements.size + 1}`
      this.statements.set(text, name)
    }
    return name
  }
}

function postgresPool({ url, logger, poolSize }: DatabaseOptions): pg.Pool {
  const pool = new pg.Pool({
    Client: CallbackClient,
    connectionString: url,
    max: poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? Number
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  })
  // An idle client whose server connection drops emits 'error' on the pool; unhandled, it
  // would crash the process. The pool discards that client and the next query reconnects.
  pool.on('error', (err) => logger.warn({ err }, 'idle database connection lost'))
  // A checked-out client whose server connection dies between queries emits 'error' with no
  // listener of the pool's attached: without this one, that would crash the process.
  pool.on('connect', (client) => {
    client.on('error', (err) => logger.warn({ err }, 'database connection lost'))
  })
  return pool
}

async function embeddedPool(dataDir: string) {
  const { PGlite } = await import('@electric-sql/pglite')
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm')
  const { btree_gin } = await import('@electric-sql/pglite/contrib/btree_gin')
  const dir = join(dataDir, 'db')
  await mkdir(dir, { recursive: true })
  const pglite = await PGlite.create(dir, {
    extensions: { pg_trgm, btree_gin },
    parsers: { [INT8_OID]: (value: string) => Number(value) },
  })
  await makePrivate(dir)
  return pglitePool(pglite)
}

// PostgreSQL's "the server went away" family: admin shutdown, crash shutdown, cannot connect
// now, and the connection_exception class; plus what node-postgres raises for a dropped socket.
const TRANSIENT_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
])
const TRANSIENT_MESSAGES =
  /Connection terminated|connection timeout|ECONNREFUSED|ECONNRESET|timeout exceeded when trying to connect/i

/** Whether an error means the database is unreachable for now (worth a retry), not a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: string; message?: string }
  return (
    (code !== undefined && TRANSIENT_SQLSTATES.has(code)) || TRANSIENT_MESSAGES.test(message ?? '')
  )
}
