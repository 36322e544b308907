import { randomBytes } from 'node:crypto'
import pg from 'pg'

const SERVER = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432'

export interface TestDatabase {
  url: string
  drop(): Promise<void>
}

/** A fresh, empty PostgreSQL database on the test server, so parallel test files never collide. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `satchel_test_${randomBytes(6).toString('hex')}`
  await admin(`CREATE DATABASE ${name}`)
  return {
    url: `${SERVER}/${name}`,
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  }
}

async function admin(statement: string) {
  const client = new pg.Client({ connectionString: `${SERVER}/postgres` })
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}
