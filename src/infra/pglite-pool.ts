import type { PGlite } from '@electric-sql/pglite'
import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'

/**
 * Presents one PGlite instance as a `pg`-style pool for Kysely's PostgresDialect.
 * PGlite is a single connection, so connections are handed out one at a time: without
 * this mutex two requests' transactions would interleave on the same session.
 */
export function pglitePool(pglite: PGlite): PostgresPool {
  let tail: Promise<void> = Promise.resolve()

  const client = {
    async query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
      // A parameterless statement may hold several commands (migrations): only exec runs those.
      const result =
        parameters.length === 0
          ? (await pglite.exec(sql)).at(-1)
          : await pglite.query<R>(sql, parameters as unknown[])
      return {
        command: 'UPDATE',
        rowCount: result?.affectedRows ?? 0,
        rows: (result?.rows ?? []) as R[],
      }
    },
  }

  return {
    async connect() {
      let release!: () => void
      const turn = new Promise<void>((resolve) => {
        release = resolve
      })
      const previous = tail
      tail = previous.then(() => turn)
      await previous
      return { ...client, release } as unknown as PostgresPoolClient
    },
    async end() {
      await tail
      await pglite.close()
    },
  }
}
