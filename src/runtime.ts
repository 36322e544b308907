import type { Config } from './config.js'
import type { EventBus } from './events/event-bus.js'
import { MemoryEventBus } from './events/memory-event-bus.js'
import { RedisEventBus } from './events/redis-event-bus.js'
import { type Database, type DatabaseOptions, openDatabase } from './infra/db.js'
import type { Logger } from './infra/logger.js'
import { migrate } from './infra/migrator.js'
import { createRedisClient } from './infra/redis.js'
import { persistentSecret } from './infra/secrets.js'
import type { DB } from './schema.js'
import type { AppDeps } from './services.js'
import { createBlobStore } from './storage/create-blob-store.js'

/** Fills in the secrets the embedded mode may generate; production config must carry them. */
export async function resolveSecrets(config: Config): Promise<Config> {
  if (config.databaseUrl) return config
  const jwtSecret = config.jwtSecret ?? (await persistentSecret(config.dataDir, 'jwt_secret', 48))
  // A bare base64 32-byte key is a valid one-key ring.
  const encryptionKey =
    config.encryptionKey ??
    (config.encryptionOff
      ? undefined
      : await persistentSecret(config.dataDir, 'encryption_key', 32))
  return { ...config, jwtSecret, encryptionKey }
}

/** Opens the database and brings its schema up to date. */
export async function openMigratedDatabase(
  config: Config,
  logger: Logger,
  onQuery?: DatabaseOptions['onQuery'],
): Promise<Database<DB>> {
  const database = await openDatabase<DB>({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    logger,
    onQuery,
  })
  try {
    await migrate(database.db, logger)
  } catch (err) {
    await database.close()
    throw err
  }
  return database
}

/** Everything the app runs on, opened from config; close() releases it all. */
export async function openDependencies(
  config: Config,
  logger: Logger,
  options: Pick<DatabaseOptions, 'onQuery'> = {},
): Promise<AppDeps & { close(): Promise<void> }> {
  const database = await openMigratedDatabase(config, logger, options.onQuery)
  const store = createBlobStore(config)
  const redis = config.redisUrl ? createRedisClient(config.redisUrl, logger) : undefined
  const subscriber = config.redisUrl ? createRedisClient(config.redisUrl, logger) : undefined
  const events: EventBus =
    redis && subscriber
      ? new RedisEventBus({ publisher: redis, subscriber, prefix: config.redisPrefix, logger })
      : new MemoryEventBus({ logger })
  // Until Redis is ready limits count in memory; a short wait lets a normal start share them.
  if (redis)
    await Promise.race([
      new Promise((r) => redis.once('ready', r)),
      new Promise((r) => setTimeout(r, 1000)),
    ])
  return {
    database,
    store,
    redis,
    events,
    logger,
    async close() {
      await events.close()
      await database.close()
      redis?.disconnect()
      subscriber?.disconnect()
    },
  }
}
