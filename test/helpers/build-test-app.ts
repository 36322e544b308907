import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DestinationStream } from 'pino'
import { buildApp } from '../../src/app.js'
import { type Config, parseConfig } from '../../src/config.js'
import type { App } from '../../src/http/types.js'
import type { Database } from '../../src/infra/db.js'
import { createLogger } from '../../src/infra/logger.js'
import { openDependencies } from '../../src/runtime.js'
import type { DB } from '../../src/schema.js'
import type { BlobStore } from '../../src/storage/blob-store.js'
import { checkContract } from './contract.js'
import { createTestDatabase } from './databases.js'

export interface TestApp {
  app: App
  config: Config
  database: Database<DB>
  store: BlobStore
  dataDir: string
  /** How many SQL queries the app has run so far. */
  queries(): number
  close(): Promise<void>
}

/** Decorators for the app's connections, to inject faults (a hung store, a lost reply). */
export interface TestAppWrappers {
  store?: (store: BlobStore) => BlobStore
  database?: (database: Database<DB>) => Database<DB>
  /** Where the app's log goes instead of stdout, to read it back. */
  logTo?: DestinationStream
}

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'

/**
 * An app on its own fresh PostgreSQL database and data directory. `env` overrides the
 * environment the config is parsed from. close() tears down everything it made.
 */
export async function buildTestApp(
  env: Record<string, string> = {},
  wrap: TestAppWrappers = {},
): Promise<TestApp> {
  // A DATA_DIR given is another app's, which that app removes.
  const madeDir = env.DATA_DIR ? undefined : await mkdtemp(join(tmpdir(), 'satchel-test-'))
  const testDb = env.DATABASE_URL ? undefined : await createTestDatabase()
  const config = parseConfig({
    DATA_DIR: madeDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    // Suites make many requests from one address; the limit tests set their own budgets.
    RATE_LIMIT_PER_MINUTE: '100000',
    REDIS_PREFIX: `test-${randomBytes(4).toString('hex')}:`,
    AUTH_RATE_LIMIT_PER_MINUTE: '100000',
    // Suites sign their users up; the registration tests close it themselves.
    REGISTRATION: 'open',
    ...(testDb ? { DATABASE_URL: testDb.url } : {}),
    ...env,
  })
  const logger = createLogger(config.logLevel, wrap.logTo)
  let queries = 0
  const deps = await openDependencies(config, logger, { onQuery: () => queries++ })
  if (wrap.store) deps.store = wrap.store(deps.store)
  if (wrap.database) deps.database = wrap.database(deps.database)
  const app = await buildApp(config, deps)
  checkContract(app)
  await app.ready()
  return {
    app,
    config,
    database: deps.database,
    store: deps.store,
    dataDir: config.dataDir,
    queries: () => queries,
    async close() {
      await app.close()
      await deps.close()
      await testDb?.drop()
      if (madeDir) await rm(madeDir, { recursive: true, force: true })
    },
  }
}
