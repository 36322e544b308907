import { buildApp } from './app.js'
import { ConfigError, parseConfig } from './config.js'
import { createLogger } from './infra/logger.js'
import { restrictNewFiles } from './infra/private-files.js'
import { openDependencies, resolveSecrets } from './runtime.js'

// Past the grace, what still holds the process (a hung store call, a stuck query) gets this
// long to let go before the process exits regardless, non-zero as the stop was not clean.
const FORCED_EXIT_AFTER_GRACE_MS = 10_000

async function main() {
  restrictNewFiles()
  const config = await resolveSecrets(parseConfig(process.env))
  const logger = createLogger(config.logLevel)
  const deps = await openDependencies(config, logger)
  const app = await buildApp(config, deps)
  await app.listen({ port: config.port, host: config.host })
  app.sweeper.start(config.sweepIntervalSeconds)
  // The pid lets an operator (or a test) tell this node process from the npm that started it.
  logger.info(
    { pid: process.pid, database: deps.database.kind, storage: config.storage.driver },
    'satchel ready',
  )

  const graceMs = config.shutdownGraceSeconds * 1000
  let stopping = false
  const stop = async (signal: string) => {
    // A terminal's Ctrl-C reaches node both directly and through npm: one stop is enough.
    if (stopping) return
    stopping = true
    logger.info({ signal, graceSeconds: config.shutdownGraceSeconds }, 'shutting down')
    // app.close() stops accepting, answers 503 on busy keep-alive connections, closes
    // WebSockets with 1001 and waits for in-flight requests. A keep-alive socket whose request
    // finishes after that would hold the server open: reap those as they idle.
    const reaper = setInterval(() => app.server.closeIdleConnections(), 100)
    const deadline = setTimeout(() => {
      logger.warn('shutdown grace is over; cutting the requests still in flight')
      // An upload cut before its body ends never commits: its pending row and partial bytes
      // are left to the sweeper.
      app.server.closeAllConnections()
      for (const socket of app.websocketServer.clients) socket.terminate()
    }, graceMs)
    setTimeout(() => {
      logger.error('could not stop cleanly; exiting')
      process.exit(1)
    }, graceMs + FORCED_EXIT_AFTER_GRACE_MS).unref()
    await app.close()
    clearTimeout(deadline)
    clearInterval(reaper)
    await deps.close()
    logger.info('stopped')
    process.exit(0)
  }
  const onSignal = (signal: string) =>
    stop(signal).catch((err) => {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    })
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
}

main().catch((err) => {
  // One line, so an operator sees the cause without a stack trace for a config mistake.
  const message = err instanceof ConfigError ? err.message : (err?.stack ?? String(err))
  process.stderr.write(`satchel: failed to start: ${message}\n`)
  process.exit(1)
})
