/**
 * The floor a list page that misses the cache is measured against: a bare Fastify route that
 * runs Satchel's own SQL for a 50-row page, 51 rows read as Satchel reads them (compiled
 * once, from FilesRepository, for a keyset page of one user's files) as one prepared
 * statement on a pg pool of Satchel's default size, and sends the page's rows as Satchel's
 * JSON does, each with the same fixed URL. No authentication, rate limit, cursor, signed
 * URL, cache, query building or logging: what is left is Fastify, pg and PostgreSQL's
 * answer on this machine.
 *
 * GET /files?before=<ISO date>&at=<ISO date>&id=<uuid>: the page of BENCH_OWNER_ID's files
 * uploaded before `before`, after the keyset (at, id), newest first.
 *
 * Started by bench/api.ts as `node --import tsx bench/baseline-page-server.ts` with
 * DATABASE_URL and BENCH_OWNER_ID set; prints `listening <port>` once it accepts connections.
 */
import { availableParallelism } from 'node:os'
import Fastify from 'fastify'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { FilesRepository } from '../src/files/files-repository.js'
import type { DB } from '../src/schema.js'

const { DATABASE_URL: url, BENCH_OWNER_ID: ownerId } = process.env
if (!url || !ownerId) throw new Error('DATABASE_URL and BENCH_OWNER_ID are required')
const LIMIT = 50
// A signed URL's length, so the floor sends as many bytes as Satchel.
const URL_JSON = JSON.stringify(
  `http://127.0.0.1:3000/files/${'0'.repeat(36)}/content?expires=1800000000&signature=${'A'.repeat(22)}`,
)

// Idle connections kept, as Satchel's pool keeps them between the alternated runs.
const pool = new pg.Pool({
  connectionString: url,
  max: Math.max(4, 2 * availableParallelism()),
  idleTimeoutMillis: 0,
})
const text = pageSql()

const app = Fastify({ logger: false })
app.get<{ Querystring: { before: string; at: string; id: string } }>(
  '/files',
  async (req, reply) => {
    const { before, at, id } = req.query
    const { rows } = await pool.query<{ files: string | null }>({
      name: 'page',
      text,
      values: [new Date(), ownerId, before, at, id],
    })
    // One row more than the page, as Satchel reads it to tell whether a next page exists.
    const files = rows[0]?.files?.split('\x01').slice(0, LIMIT) ?? []
    const items = files.map((file) => `${file}${URL_JSON}}`).join(',')
    return reply
      .type('application/json; charset=utf-8')
      .send(`{"items":[${items}],"next_cursor":null}`)
  },
)

const address = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`listening ${new URL(address).port}\n`)

/** Satchel's query for a keyset page of the newest files uploaded before a date. */
function pageSql(): string {
  const compiler = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) })
  // searchPage is private: the floor must run the very text Satchel runs, not a copy of it.
  const repository = new FilesRepository(compiler) as unknown as {
    searchPage(values: object, choices: object): { compile(): { sql: string } }
  }
  const anyDate = new Date()
  return repository
    .searchPage(
      { ownerId, now: anyDate, uploadedBefore: anyDate, afterValue: anyDate, afterId: ownerId },
      { sort: 'created_at', order: 'desc', limit: LIMIT + 1 },
    )
    .compile().sql
}
