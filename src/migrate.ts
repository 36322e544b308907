import { ConfigError, parseConfig } from './config.js'
import { createLogger } from './infra/logger.js'
import { openMigratedDatabase } from './runtime.js'

try {
  const config = parseConfig(process.env)
  const logger = createLogger(config.logLevel)
  const database = await openMigratedDatabase(config, logger)
  await database.close()
} catch (err) {
  const message = err instanceof ConfigError ? err.message : ((err as Error)?.stack ?? String(err))
  process.stderr.write(`satchel: migration failed: ${message}\n`)
  process.exit(1)
}
