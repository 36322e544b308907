import multipart from '@fastify/multipart'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import websocket from '@fastify/websocket'
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify'
import type { Config } from './config.js'
import { answerFrameworkError, clientErrorHandler, registerErrorHandling } from './http/errors.js'
import { MAX_PART_HEADER_LINES } from './http/multipart-guard.js'
import { registerOpenApi } from './http/openapi.js'
import { registerAuthenticate } from './http/plugins/authenticate.js'
import { registerRateLimit } from './http/plugins/rate-limit.js'
import { registerRequestGate } from './http/plugins/request-gate.js'
import { requestIdFrom } from './http/plugins/request-id.js'
import { requestLogger } from './http/plugins/request-logger.js'
import { registerTusProtocol } from './http/plugins/tus-protocol.js'
import { createSocketTicket } from './http/routes/events/create-socket-ticket.js'
import {
  closeSocketsGoingAway,
  notificationsSocket,
} from './http/routes/events/notifications-socket.js'
import { deleteFile } from './http/routes/files/delete-file.js'
import { downloadFile } from './http/routes/files/download-file.js'
import { getFile } from './http/routes/files/get-file.js'
import { listFiles } from './http/routes/files/list-files.js'
import { updateFile } from './http/routes/files/update-file.js'
import { uploadFiles } from './http/routes/files/upload-files.js'
import { getMetrics } from './http/routes/ops/get-metrics.js'
import { diskSpaceCheck, health } from './http/routes/ops/health.js'
import { createShare } from './http/routes/shares/create-share.js'
import { deleteShare } from './http/routes/shares/delete-share.js'
import { downloadShare } from './http/routes/shares/download-share.js'
import { getDefaultShare } from './http/routes/shares/get-default-share.js'
import { getShareInfo } from './http/routes/shares/get-share-info.js'
import { listShares } from './http/routes/shares/list-shares.js'
import { updateShare } from './http/routes/shares/update-share.js'
import { appendUpload } from './http/routes/uploads/append-upload.js'
import { createUpload } from './http/routes/uploads/create-upload.js'
import { deleteUpload } from './http/routes/uploads/delete-upload.js'
import { getUploadStatus } from './http/routes/uploads/get-upload-status.js'
import { optionsUploads } from './http/routes/uploads/options-uploads.js'
import { changePassword } from './http/routes/users/change-password.js'
import { deleteAccount } from './http/routes/users/delete-account.js'
import { deleteSession } from './http/routes/users/delete-session.js'
import { getMe } from './http/routes/users/get-me.js'
import { listSessions } from './http/routes/users/list-sessions.js'
import { loginUser } from './http/routes/users/login-user.js'
import { logoutUser } from './http/routes/users/logout-user.js'
import { refreshToken } from './http/routes/users/refresh-token.js'
import { registerUser } from './http/routes/users/register-user.js'
import type { App } from './http/types.js'
import { type AppDeps, buildServices } from './services.js'

export type { AppDeps } from './services.js'

/** Builds the HTTP application from resolved config and open connections; does no I/O itself. */
export async function buildApp(config: Config, deps: AppDeps): Promise<App> {
  const { jwtSecret } = config
  if (!jwtSecret) throw new Error('buildApp needs config.jwtSecret (see resolveSecrets)')
  const services = buildServices({ ...config, jwtSecret }, deps)
  const { users, files, shares, sweeper } = services

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: requestIdFrom,
    childLoggerFactory: requestLogger,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    // Only named proxies may set the client address: rate limits key on it.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    ajv: { customOptions: { removeAdditional: false } },
    // Errors raised before any hook runs are answered in the same problem+json as the rest.
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: clientErrorHandler(deps.logger as FastifyBaseLogger),
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('sweeper', sweeper)
  app.addHook('onClose', () => sweeper.stop())
  // Browsers post the share password as a plain form; URLSearchParams is all it takes.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 8192 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )
  const generalLimit = await registerRateLimit(app, {
    perMinute: config.rateLimitPerMinute,
    counter: services.counter,
    accessTokens: services.accessTokens,
    onRefused: () => services.metrics.rateLimited.inc(),
  })
  registerRequestGate(app, generalLimit)
  app.addHook('onResponse', (req, reply, done) => {
    services.metrics.observeRequest(
      req.method,
      req.routeOptions.url,
      reply.statusCode,
      reply.elapsedTime,
    )
    done()
  })
  registerErrorHandling(app)
  registerAuthenticate(app, services.accessTokens, services.sessionGuard)
  app.addHook('onClose', async () => services.sessionGuard.close())
  await registerOpenApi(app, config)

  const redis = deps.redis
  health(app, [
    { name: 'database', check: () => deps.database.ping() },
    { name: 'storage', check: () => deps.store.ping() },
    ...(redis ? [{ name: 'redis', check: async () => void (await redis.ping()) }] : []),
    // Local blobs and the embedded database both live under DATA_DIR.
    ...(config.minFreeDiskBytes > 0 && (config.storage.driver === 'local' || !config.databaseUrl)
      ? [diskSpaceCheck(config.dataDir, config.minFreeDiskBytes)]
      : []),
  ])
  getMetrics(app, services.metrics, {
    token: config.metricsToken,
    openWithoutToken: !config.databaseUrl,
  })
  registerUser(app, users, config.authRateLimitPerMinute)
  loginUser(app, users, config.authRateLimitPerMinute)
  refreshToken(app, users)
  logoutUser(app, users)
  getMe(app, users)
  listSessions(app, services.account)
  deleteSession(app, services.account)
  changePassword(app, services.account, config.authRateLimitPerMinute)
  deleteAccount(app, services.account, config.authRateLimitPerMinute)
  // Multipart and WebSockets each in a scope of their own: their hooks run on every request
  // of the scope they are registered in, and only these routes need them.
  await app.register(async (scope: App) => {
    await scope.register(multipart, {
      limits: {
        fileSize: config.maxUploadBytes,
        files: config.maxPartsPerUpload,
        fields: 10,
        parts: config.maxPartsPerUpload + 10,
        fieldNameSize: 100,
        fieldSize: 1024,
        headerPairs: MAX_PART_HEADER_LINES,
      },
    })
    uploadFiles(
      scope,
      { files, keys: services.idempotency },
      {
        maxFileBytes: config.maxUploadBytes,
        maxRequestBytes: config.maxRequestBytes,
        idleTimeoutSeconds: config.uploadIdleTimeoutSeconds,
        metrics: services.metrics,
      },
    )
  })
  // tus at /uploads, in a scope of its own: its body parser and headers stay there.
  await app.register(async (tus: App) => {
    registerTusProtocol(tus)
    optionsUploads(tus, { maxUploadBytes: config.maxUploadBytes })
    createUpload(tus, services.uploads)
    getUploadStatus(tus, services.uploads)
    appendUpload(tus, services.uploads)
    deleteUpload(tus, services.uploads)
  })
  listFiles(app, files)
  getFile(app, files)
  downloadFile(app, files)
  updateFile(app, files)
  deleteFile(app, files)
  getDefaultShare(app, shares)
  createShare(app, { shares, keys: services.idempotency })
  listShares(app, shares)
  updateShare(app, shares)
  deleteShare(app, shares)
  downloadShare(app, shares, files)
  getShareInfo(app, shares)
  createSocketTicket(app, services.tickets)
  await app.register(async (scope: App) => {
    await scope.register(websocket, {
      options: { maxPayload: 4096 },
      preClose: closeSocketsGoingAway,
    })
    notificationsSocket(scope, {
      tickets: services.tickets,
      events: services.events,
      allowedOrigins: config.allowedOrigins,
      connections: services.metrics.sockets,
    })
    // main's shutdown terminates the sockets left after the grace period.
    app.decorate('websocketServer', scope.websocketServer)
  })
  return app
}
