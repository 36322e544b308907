import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
} from 'kysely'
import { describe, expect, it } from 'vitest'
import { PREPARED } from './db.js'
import { QueryShapes } from './query-shapes.js'

interface Tables {
  files: { id: string; owner_id: string; size: number; created_at: Date; content_type: string }
}

/** A Kysely that runs nothing and records what it was asked to run. */
function recordingDb() {
  const ran: { sql: string; parameters: readonly unknown[] }[] = []
  const db = new Kysely<Tables>({
    dialect: {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (kysely) => new PostgresIntrospector(kysely),
      createQueryCompiler: () => new PostgresQueryCompiler(),
    },
    log: (event) => {
      ran.push({ sql: event.query.sql, parameters: event.query.parameters })
    },
  })
  return { db, ran }
}

type Values = {
  ownerId: string
  since: Date | undefined
  minSize: number | undefined
  types: string[] | undefined
  limit: number
}
type Choices = { order: 'asc' | 'desc' }

function pageQuery(prepared?: (v: Values, c: Choices) => boolean) {
  const { db, ran } = recordingDb()
  let builds = 0
  const shapes = new QueryShapes(
    db,
    (v: Values, c: Choices) => {
      builds++
      let query = db.selectFrom('files').select('id').where('owner_id', '=', v.ownerId)
      if (v.since !== undefined) query = query.where('created_at', '>=', v.since)
      if (v.minSize !== undefined) query = query.where('size', '>=', v.minSize)
      if (v.types !== undefined) query = query.where('content_type', 'in', v.types)
      return query.orderBy('created_at', c.order).limit(v.limit)
    },
    prepared,
  )
  return { shapes, ran, builds: () => builds }
}

const values = (more: Partial<Values> = {}): Values => ({
  ownerId: 'owner-1',
  since: undefined,
  minSize: undefined,
  types: undefined,
  limit: 51,
  ...more,
})

describe('QueryShapes', () => {
  it('builds each shape once and runs it with every call’s own values', async () => {
    const { shapes, ran, builds } = pageQuery()
    const since = new Date('2031-01-02T03:04:05.678Z')
    await shapes.execute(values({ since, minSize: 10 }), { order: 'desc' })
    await shapes.execute(values({ ownerId: 'owner-2', since, minSize: 99, limit: 11 }), {
      order: 'desc',
    })
    expect(builds()).toBe(1)
    expect(ran[1]!.sql).toBe(ran[0]!.sql)
    expect(ran.map((query) => query.parameters)).toEqual([
      ['owner-1', since, 10, 51],
      ['owner-2', since, 99, 11],
    ])
  })

  it('tells shapes apart by their choices, the values given and the lengths of lists', async () => {
    const { shapes, ran, builds } = pageQuery()
    await shapes.execute(values(), { order: 'desc' })
    await shapes.execute(values(), { order: 'asc' })
    await shapes.execute(values({ minSize: 5 }), { order: 'asc' })
    await shapes.execute(values({ types: ['a/b'] }), { order: 'asc' })
    await shapes.execute(values({ types: ['a/b', 'c/d'] }), { order: 'asc' })
    await shapes.execute(values({ types: ['e/f', 'g/h'] }), { order: 'asc' })
    expect(builds()).toBe(5)
    expect(ran[1]!.sql).toContain('asc')
    expect(ran[5]!.sql).toBe(ran[4]!.sql)
    expect(ran[5]!.parameters).toEqual(['owner-1', 'e/f', 'g/h', 51])
  })

  it('gives a falsy value a shape of its own, as a builder may test it for truth', async () => {
    const { shapes, ran, builds } = pageQuery()
    await shapes.execute(values({ minSize: 0 }), { order: 'desc' })
    await shapes.execute(values({ minSize: 7 }), { order: 'desc' })
    await shapes.execute(values({ minSize: 0 }), { order: 'desc' })
    expect(builds()).toBe(2)
    expect(ran.map((query) => query.parameters[1])).toEqual([0, 7, 0])
  })

  it('marks the shapes it is told to as prepared statements, and no others', async () => {
    const { shapes, ran } = pageQuery((v) => v.types === undefined)
    await shapes.execute(values({ minSize: 3 }), { order: 'desc' })
    await shapes.execute(values({ types: ['a/b'] }), { order: 'desc' })
    expect(ran[0]!.sql.startsWith(PREPARED)).toBe(true)
    expect(ran[1]!.sql).not.toContain(PREPARED)
  })

  it('refuses a builder that computes with a value, or holds one it made itself', async () => {
    const { db } = recordingDb()
    const computes = new QueryShapes(db, (v: { name: string }, _: Choices) =>
      db.selectFrom('files').select('id').where('owner_id', 'like', `%${v.name}%`),
    )
    await expect(computes.execute({ name: 'x' }, { order: 'asc' })).rejects.toThrow(/"name"/)
    const stamps = new QueryShapes(db, (v: { ownerId: string }, _: Choices) =>
      db
        .selectFrom('files')
        .select('id')
        .where('owner_id', '=', v.ownerId)
        .where('created_at', '<', new Date()),
    )
    await expect(stamps.execute({ ownerId: 'x' }, { order: 'asc' })).rejects.toThrow(/Date/)
  })
})
