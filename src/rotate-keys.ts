import { ConfigError, parseConfig } from './config.js'
import { FilesRepository } from './files/files-repository.js'
import { rewrapAllFiles } from './files/key-rotation.js'
import { createLogger } from './infra/logger.js'
import { openMigratedDatabase, resolveSecrets } from './runtime.js'
import { parseKeyRing } from './storage/key-ring.js'

// `npm run rotate-keys`: after adding a new master key at the end of ENCRYPTION_KEY.
try {
  const config = await resolveSecrets(parseConfig(process.env))
  if (!config.encryptionKey)
    throw new ConfigError('ENCRYPTION_KEY is not set: there is nothing to rotate')
  const logger = createLogger(config.logLevel)
  const database = await openMigratedDatabase(config, logger)
  try {
    await rewrapAllFiles(
      new FilesRepository(database.db),
      parseKeyRing(config.encryptionKey),
      logger,
    )
  } finally {
    await database.close()
  }
} catch (err) {
  const message = err instanceof ConfigError ? err.message : ((err as Error)?.stack ?? String(err))
  process.stderr.write(`satchel: key rotation failed: ${message}\n`)
  process.exit(1)
}
