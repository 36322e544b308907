import {
  CompiledQuery,
  type Kysely,
  type KyselyPlugin,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely'
import { FilesRepository } from '../../src/files/files-repository.js'
import type { DB } from '../../src/schema.js'

/** Remembers the last query it saw, so the exact SQL the repository built can be explained. */
class LastQuery implements KyselyPlugin {
  seen?: PluginTransformQueryArgs

  transformQuery({ node, queryId }: PluginTransformQueryArgs): RootOperationNode {
    this.seen = { node, queryId }
    return node
  }

  async transformResult({ result }: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return result
  }
}

/**
 * EXPLAIN (ANALYZE, BUFFERS) of the query `run` makes through a real FilesRepository, with
 * the same parameters: rebuilding the SQL by hand could drift from what the service sends.
 */
export async function explainSearch(
  db: Kysely<DB>,
  run: (repo: FilesRepository) => Promise<unknown>,
): Promise<string[]> {
  const capture = new LastQuery()
  await run(new FilesRepository(db.withPlugin(capture)))
  if (!capture.seen) throw new Error('the repository ran no query')
  const compiled = db.getExecutor().compileQuery(capture.seen.node, capture.seen.queryId)
  const explained = await db.executeQuery<{ 'QUERY PLAN': string }>(
    CompiledQuery.raw(`explain (analyze, buffers) ${compiled.sql}`, [...compiled.parameters]),
  )
  return explained.rows.map((row) => row['QUERY PLAN'])
}
