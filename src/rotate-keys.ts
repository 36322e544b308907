import { ConfigError, parseConfig } from './config.js'
import { createLogger } from './infra/logger.js'
import { rotateKeys } from './rotate-keys-job.js'
import { resolveSecrets } from './runtime.js'

// `npm run rotate-keys`: after adding a new master key at the end of ENCRYPTION_KEY.
try {
  const config = await resolveSecrets(parseConfig(process.env))
  const { encryptionKey } = config
  if (!encryptionKey) throw new ConfigError('ENCRYPTION_KEY is not set: there is nothing to rotate')
  await rotateKeys({ ...config, encryptionKey }, createLogger(config.logLevel))
} catch (err) {
  const message = err instanceof ConfigError ? err.message : ((err as Error)?.stack ?? String(err))
  process.stderr.write(`satchel: key rotation failed: ${message}\n`)
  process.exit(1)
}
