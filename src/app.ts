import multipart from '@fastify/multipart'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from './config.js'
import { FilesRepository } from './files/files-repository.js'
import { FilesService } from './files/files-service.js'
import { SignedUrls } from './files/signed-urls.js'
import { registerErrorHandling } from './http/errors.js'
import { registerAuthenticate } from './http/plugins/authenticate.js'
import { registerRateLimit } from './http/plugins/rate-limit.js'
import { registerRequestId, requestIdFrom } from './http/plugins/request-id.js'
import { deleteFile } from './http/routes/files/delete-file.js'
import { downloadFile } from './http/routes/files/download-file.js'
import { getFile } from './http/routes/files/get-file.js'
import { listFiles } from './http/routes/files/list-files.js'
import { updateFile } from './http/routes/files/update-file.js'
import { uploadFiles } from './http/routes/files/upload-files.js'
import { health } from './http/routes/ops/health.js'
import { createShare } from './http/routes/shares/create-share.js'
import { deleteShare } from './http/routes/shares/delete-share.js'
import { downloadShare } from './http/routes/shares/download-share.js'
import { getDefaultShare } from './http/routes/shares/get-default-share.js'
import { getShareInfo } from './http/routes/shares/get-share-info.js'
import { listShares } from './http/routes/shares/list-shares.js'
import { updateShare } from './http/routes/shares/update-share.js'
import { getMe } from './http/routes/users/get-me.js'
import { loginUser } from './http/routes/users/login-user.js'
import { logoutUser } from './http/routes/users/logout-user.js'
import { refreshToken } from './http/routes/users/refresh-token.js'
import { registerUser } from './http/routes/users/register-user.js'
import type { App } from './http/types.js'
import { AttemptLimiter } from './infra/attempt-limiter.js'
import type { Database } from './infra/db.js'
import { FixedWindowCounter } from './infra/fixed-window.js'
import type { Logger } from './infra/logger.js'
import { SweepRepository } from './jobs/sweep-repository.js'
import { Sweeper } from './jobs/sweeper.js'
import type { DB } from './schema.js'
import { ShareTokens } from './shares/share-tokens.js'
import { SharesRepository } from './shares/shares-repository.js'
import { SharesService } from './shares/shares-service.js'
import type { BlobStore } from './storage/blob-store.js'
import { AccessTokens } from './users/access-tokens.js'
import { RefreshTokensRepository } from './users/refresh-tokens-repository.js'
import { UsersRepository } from './users/users-repository.js'
import { UsersService } from './users/users-service.js'

export interface AppDeps {
  database: Database<DB>
  store: BlobStore
  logger: Logger
  /** Shared counters, cache and events across instances; in-process without it. */
  redis?: Redis
}

/** Builds the HTTP application from resolved config and open connections; does no I/O itself. */
export async function buildApp(config: Config, deps: AppDeps): Promise<App> {
  if (!config.jwtSecret) throw new Error('buildApp needs config.jwtSecret (see resolveSecrets)')
  const { db } = deps.database
  const accessTokens = new AccessTokens(config.jwtSecret, config.accessTokenTtlSeconds)
  const counter = new FixedWindowCounter(deps.redis, deps.logger, config.redisPrefix)
  const FIFTEEN_MINUTES = 15 * 60
  const users = new UsersService({
    users: new UsersRepository(db),
    refreshTokens: new RefreshTokensRepository(db),
    accessTokens,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    loginAttempts: new AttemptLimiter(counter, 'login', 10, FIFTEEN_MINUTES),
  })
  const filesRepository = new FilesRepository(db)
  const sharesRepository = new SharesRepository(db)
  const files = new FilesService({
    files: filesRepository,
    store: deps.store,
    signedUrls: new SignedUrls(config.jwtSecret, config.publicBaseUrl, config.signedUrlTtlSeconds),
    logger: deps.logger,
  })
  const shares = new SharesService({
    shares: sharesRepository,
    files: filesRepository,
    tokens: new ShareTokens(config.jwtSecret),
    passwordAttempts: new AttemptLimiter(counter, 'share-password', 10, FIFTEEN_MINUTES),
    publicBaseUrl: config.publicBaseUrl,
  })
  const sweeper = new Sweeper({
    sweeps: new SweepRepository(db),
    files: filesRepository,
    shares: sharesRepository,
    store: deps.store,
    logger: deps.logger,
    batchSize: config.sweepBatchSize,
    maxSweepSeconds: config.sweepMaxSeconds,
    uploadGraceSeconds: config.uploadGraceSeconds,
  })

  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: requestIdFrom,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    trustProxy: true,
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.decorate('sweeper', sweeper)
  app.addHook('onClose', () => sweeper.stop())
  // Browsers post the share password as a plain form; URLSearchParams is all it takes.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 8192 },
    (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  )
  registerRequestId(app)
  await registerRateLimit(app, { perMinute: config.rateLimitPerMinute, counter, accessTokens })
  registerErrorHandling(app)
  registerAuthenticate(app, accessTokens)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Satchel', version: '0.1.0', description: 'File sharing and management' },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  await app.register(multipart, {
    limits: {
      fileSize: config.maxUploadBytes,
      files: config.maxPartsPerUpload,
      fields: 10,
      parts: config.maxPartsPerUpload + 10,
      fieldNameSize: 100,
      fieldSize: 1024,
      headerPairs: 20,
    },
  })
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger())

  health(app, [
    { name: 'database', check: () => deps.database.ping() },
    { name: 'storage', check: () => deps.store.ping() },
  ])
  registerUser(app, users, config.authRateLimitPerMinute)
  loginUser(app, users, config.authRateLimitPerMinute)
  refreshToken(app, users)
  logoutUser(app, users)
  getMe(app, users)
  uploadFiles(app, files, config.maxUploadBytes)
  listFiles(app, files)
  getFile(app, files)
  downloadFile(app, files)
  updateFile(app, files)
  deleteFile(app, files)
  getDefaultShare(app, shares)
  createShare(app, shares)
  listShares(app, shares)
  updateShare(app, shares)
  deleteShare(app, shares)
  downloadShare(app, shares, files)
  getShareInfo(app, shares)
  return app
}
