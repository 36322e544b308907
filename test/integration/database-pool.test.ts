import { availableParallelism } from 'node:os'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, parseConfig } from '../../src/config.js'
import { signUp, type TestUser } from '../helpers/accounts.js'
import { buildTestApp, type TestApp } from '../helpers/build-test-app.js'
import { injectUpload } from '../helpers/files.js'

describe('DATABASE_POOL_SIZE', () => {
  it('defaults to twice the cores, at least 4, and refuses what is not a positive integer', () => {
    expect(parseConfig({}).databasePoolSize).toBe(Math.max(4, 2 * availableParallelism()))
    expect(parseConfig({ DATABASE_POOL_SIZE: '3' }).databasePoolSize).toBe(3)
    for (const bad of ['0', '-1', 'ten']) {
      expect(() => parseConfig({ DATABASE_POOL_SIZE: bad })).toThrow(ConfigError)
    }
  })

  describe('with 2', () => {
    let t: TestApp
    let user: TestUser
    let admin: pg.Client
    beforeAll(async () => {
      t = await buildTestApp({ DATABASE_POOL_SIZE: '2' })
      user = await signUp(t.app)
      await injectUpload(t.app, user, 'report.txt', Buffer.from('r'))
      admin = new pg.Client({ connectionString: t.config.databaseUrl })
      await admin.connect()
    })
    afterAll(async () => {
      await admin.end()
      await t.close()
    })

    it('answers 40 searches at once over 2 connections, the rest waiting their turn', async () => {
      const connections = () =>
        admin
          .query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
             where datname = current_database() and pid <> pg_backend_pid()`,
          )
          .then(({ rows }) => rows[0]!.n)
      let most = 0
      let searching = true
      const watching = (async () => {
        while (searching) most = Math.max(most, await connections())
      })()
      // Each a search of its own, which no cache has answered: each goes to the database.
      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          t.app.inject({
            url: `/search?q=report&max_size=${1000 + i}`,
            headers: user.auth,
          }),
        ),
      )
      searching = false
      await watching
      expect(replies.map((reply) => reply.statusCode)).toEqual(replies.map(() => 200))
      expect(replies.every((reply) => reply.json().items.length === 1)).toBe(true)
      expect(most).toBeGreaterThan(0)
      expect(most).toBeLessThanOrEqual(2)
    })
  })
})
