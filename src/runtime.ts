import type { Config } from './config.js'
import { type Database, openDatabase } from './infra/db.js'
import type { Logger } from './infra/logger.js'
import { migrate } from './infra/migrator.js'
import { persistentSecret } from './infra/secrets.js'
import type { DB } from './schema.js'

/** Fills in the secrets the embedded mode may generate; production config must carry them. */
export async function resolveSecrets(config: Config): Promise<Config> {
  if (config.jwtSecret) return config
  return { ...config, jwtSecret: await persistentSecret(config.dataDir, 'jwt_secret', 48) }
}

/** Opens the database and brings its schema up to date. */
export async function openMigratedDatabase(config: Config, logger: Logger): Promise<Database<DB>> {
  const database = await openDatabase<DB>({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    logger,
  })
  try {
    await migrate(database.db, logger)
  } catch (err) {
    await database.close()
    throw err
  }
  return database
}
