import { setFlagsFromString } from 'node:v8'
import { buildApp } from './app.js'
import { ConfigError, parseConfig } from './config.js'
import { createLogger } from './infra/logger.js'
import { openDependencies, resolveSecrets } from './runtime.js'

const SHUTDOWN_GRACE_MS = 10_000

async function main() {
  // Downloads allocate a fresh Buffer per read. Once a burst of small requests has grown V8's
  // young generation to its maximum, the default old-generation limit (live heap × ~1.3–1.5,
  // and the live heap here is ~35 MB, mostly loaded code) leaves less headroom than the young
  // generation holds, and V8 started a new full mark right after each one ended: 7–11 a second
  // while streaming, and ranged downloads at 0.43–0.63× a bare server instead of 0.8×
  // (bench/api.ts, part b after part a). Twice the live heap leaves room; V8 reads this flag
  // each time it sets the limit, so setting it at start is enough.
  setFlagsFromString('--heap-growing-percent=100')
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
