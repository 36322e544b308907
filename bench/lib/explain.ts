import { type Compilable, CompiledQuery, type Kysely } from 'kysely'
import { FilesRepository } from '../../src/files/files-repository.js'
import type { DB } from '../../src/schema.js'

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the last query `run` makes through a real FilesRepository,
 * with the same parameters: rebuilding the SQL by hand could drift from what the service
 * sends. The repository runs its search pages as compiled SQL through `executeQuery`, which
 * is where they are caught.
 */
export async function explainSearch(
  db: Kysely<DB>,
  run: (repo: FilesRepository) => Promise<unknown>,
): Promise<string[]> {
  let last: CompiledQuery | undefined
  const spy = new Proxy(db, {
    get(target, property) {
      const value = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (property !== 'executeQuery') return value.bind(target)
      return (query: CompiledQuery | Compilable) => {
        last = 'sql' in query ? query : query.compile()
        return value.call(target, last)
      }
    },
  })
  await run(new FilesRepository(spy))
  if (!last) throw new Error('the repository ran no query through executeQuery')
  const explained = await db.executeQuery<{ 'QUERY PLAN': string }>(
    CompiledQuery.raw(`explain (analyze, buffers) ${last.sql}`, [...last.parameters]),
  )
  return explained.rows.map((row) => row['QUERY PLAN'])
}
