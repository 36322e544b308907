import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TEST_JWT_SECRET } from './build-test-app.js'
import { createTestDatabase } from './databases.js'
import { type ServerProcess, startServer } from './server-process.js'

export interface OwnServer {
  server: ServerProcess
  /** Stops the server, then drops its database and data directory. */
  close(): Promise<void>
}

/**
 * A server process as `npm start` runs it (its node flags; startServer), on a database and
 * data directory of its own, with its metrics readable with `metricsToken` and rate limits
 * counted but never reached: for tests that watch the process itself.
 */
export async function startOwnServer(
  metricsToken: string,
  env: Record<string, string> = {},
): Promise<OwnServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'satchel-own-server-'))
  const database = await createTestDatabase()
  const server = await startServer({
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    JWT_SECRET: TEST_JWT_SECRET,
    METRICS_TOKEN: metricsToken,
    RATE_LIMIT_PER_MINUTE: '100000000',
    ...env,
  })
  return {
    server,
    async close() {
      await server.stop('SIGTERM')
      await database.drop()
      await rm(dataDir, { recursive: true, force: true })
    },
  }
}
