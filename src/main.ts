import { buildApp } from './app.js'
import { ConfigError, parseConfig } from './config.js'
import { createLogger } from './infra/logger.js'
import { openDependencies, resolveSecrets } from './runtime.js'

const SHUTDOWN_GRACE_MS = 10_000

async function main() {
  const config = await resolveSecrets(parseConfig(process.env))
  const logger = createLogger(config.logLevel)
  const deps = await openDependencies(config, logger)
  const app = await buildApp(config, deps)
  await app.listen({ port: config.port, host: config.host })
  app.sweeper.start(config.sweepIntervalSeconds)
  logger.info({ database: deps.database.kind, storage: config.storage.driver }, 'satchel ready')

  let stopping = false
  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    const force = setTimeout(() => {
      logger.error('in-flight requests did not finish in time; exiting')
      process.exit(1)
    }, SHUTDOWN_GRACE_MS)
    force.unref()
    // Fastify stops accepting and waits for in-flight requests, but a keep-alive socket whose
    // request finishes after close() began would hold the server open: reap those as they idle.
    const reaper = setInterval(() => app.server.closeIdleConnections(), 100)
    await app.close()
    clearInterval(reaper)
    await deps.close()
    logger.info('stopped')
    process.exit(0)
  }
  process.once('SIGTERM', () => void stop('SIGTERM'))
  process.once('SIGINT', () => void stop('SIGINT'))
}

main().catch((err) => {
  // One line, so an operator sees the cause without a stack trace for a config mistake.
  const message = err instanceof ConfigError ? err.message : (err?.stack ?? String(err))
  process.stderr.write(`satchel: failed to start: ${message}\n`)
  process.exit(1)
})
