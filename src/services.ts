import type { Redis } from 'ioredis'
import type { Config } from './config.js'
import type { EventBus } from './events/event-bus.js'
import { newEvent } from './events/event-bus.js'
import { BlobPurger } from './files/blob-purger.js'
import { FileCache } from './files/file-cache.js'
import { FileListCache } from './files/file-list-cache.js'
import { FilesRepository } from './files/files-repository.js'
import { FilesService } from './files/files-service.js'
import { QuotaRepository } from './files/quota-repository.js'
import { SignedUrls } from './files/signed-urls.js'
import { IdempotencyRepository } from './idempotency/idempotency-repository.js'
import { IdempotencyService } from './idempotency/idempotency-service.js'
import { AttemptLimiter } from './infra/attempt-limiter.js'
import { GuardedCache } from './infra/cache/guarded-cache.js'
import { MemoryCache } from './infra/cache/memory-cache.js'
import { ReadThroughCache } from './infra/cache/read-through-cache.js'
import { RedisCache } from './infra/cache/redis-cache.js'
import type { Database } from './infra/db.js'
import { FixedWindowCounter } from './infra/fixed-window.js'
import type { Logger } from './infra/logger.js'
import { Metrics } from './infra/metrics.js'
import { SweepRepository } from './jobs/sweep-repository.js'
import { Sweeper } from './jobs/sweeper.js'
import type { DB } from './schema.js'
import { ShareTokens } from './shares/share-tokens.js'
import { SharesRepository } from './shares/shares-repository.js'
import { SharesService } from './shares/shares-service.js'
import type { BlobStore } from './storage/blob-store.js'
import { buildUploads } from './uploads/build-uploads.js'
import { AccessTokens } from './users/access-tokens.js'
import { AccountService } from './users/account-service.js'
import { ClosedAccountsRepository } from './users/closed-accounts-repository.js'
import { SessionGuard } from './users/session-guard.js'
import { SessionsRepository } from './users/sessions-repository.js'
import { SocketTickets } from './users/socket-tickets.js'
import { UsersRepository } from './users/users-repository.js'
import { UsersService } from './users/users-service.js'

export interface AppDeps {
  database: Database<DB>
  store: BlobStore
  logger: Logger
  events: EventBus
  /** Shares counters and the cache across instances; in-process without it. */
  redis?: Redis
}

const FIFTEEN_MINUTES = 15 * 60
// A claim on deleted rows keeps other workers off them while a batch is deleted, and is what
// a crash leaves behind: short, since outliving it costs only deleting twice (idempotent).
// One delete may take this long before the store counts as hung; a DELETE request waits
// this long before leaving the blob to the background and the sweeper.
const PURGE_LEASE_MS = 2 * 60_000
const BLOB_DELETE_TIMEOUT_MS = 30_000
const PURGE_WAIT_MS = 2_000
// An Idempotency-Key claim is renewed every 15 s while its request runs, however long that
// takes; so a killed process holds its keys (409 to retries) for at most a minute.
const IDEMPOTENCY_LEASE_MS = 60_000

/** Wires every service from the config and the open connections. */
export function buildServices(config: Config & { jwtSecret: string }, deps: AppDeps) {
  const { db } = deps.database
  const { logger, store, events } = deps
  const metrics = new Metrics()
  const counter = new FixedWindowCounter(deps.redis, logger, config.redisPrefix)
  const wrongPasswords = (name: string) =>
    new AttemptLimiter({
      shared: counter,
      local: new FixedWindowCounter(undefined, logger),
      name,
      maxFailures: 10,
      windowSeconds: FIFTEEN_MINUTES,
    })
  const sharedCache = deps.redis
    ? new RedisCache(deps.redis, config.redisPrefix)
    : new MemoryCache()
  const countRead = (cache: 'file' | 'list') => (found: boolean) => metrics.cacheRead(cache, found)
  // The in-process cache cannot stall, so its calls need no timer.
  const guarded = new GuardedCache({ cache: sharedCache, logger, timeoutMs: deps.redis ? 150 : 0 })
  // Changes made while Redis was unreachable must retire stale entries before others read them.
  deps.redis?.on('ready', () => void guarded.recover())
  const cache = new ReadThroughCache({ cache: guarded, onRead: countRead('file') })
  const accessTokens = new AccessTokens(config.jwtSecret, config.accessTokenTtlSeconds)
  const filesRepository = new FilesRepository(db)
  const sharesRepository = new SharesRepository(db)
  const fileCache = new FileCache(cache, filesRepository, config.cacheTtlSeconds)
  const purger = new BlobPurger(filesRepository, store, {
    leaseMs: PURGE_LEASE_MS,
    deleteTimeoutMs: BLOB_DELETE_TIMEOUT_MS,
  })

  // Share links and signed URLs read files through this cache: a hidden file must leave it.
  const forgetFiles = async (ids: string[]) => {
    if (ids.length > 0) await fileCache.invalidate(...ids)
  }
  const usersRepository = new UsersRepository(db)
  const sessionsRepository = new SessionsRepository(db)
  const closedAccounts = new ClosedAccountsRepository(db)
  const sessionGuard = new SessionGuard({ sessions: sessionsRepository, events })
  const quotas = new QuotaRepository(db, config.defaultQuotaBytes)
  const users = new UsersService({
    users: usersRepository,
    quotas,
    sessions: sessionsRepository,
    accessTokens,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    loginAttempts: wrongPasswords('login'),
    registration: config.registration,
    revocations: sessionGuard,
  })
  const account = new AccountService({
    users: usersRepository,
    sessions: sessionsRepository,
    closedAccounts,
    auth: users,
    revocations: sessionGuard,
    refreshTokenTtlSeconds: config.refreshTokenTtlSeconds,
    onFilesHidden: forgetFiles,
  })
  const fileLists = new FileListCache(guarded, config.cacheTtlSeconds, countRead('list'))
  const files = new FilesService({
    files: filesRepository,
    quotas,
    purger,
    uploadLeaseMs: config.uploadGraceSeconds * 1000,
    purgeWaitMs: PURGE_WAIT_MS,
    cache: fileCache,
    lists: fileLists,
    store,
    events,
    signedUrls: new SignedUrls(config.jwtSecret, config.publicBaseUrl, config.signedUrlTtlSeconds),
    logger,
  })
  const shares = new SharesService({
    shares: sharesRepository,
    files: fileCache,
    events,
    tokens: new ShareTokens(config.jwtSecret),
    passwordAttempts: wrongPasswords('share-password'),
    publicBaseUrl: config.publicBaseUrl,
  })
  const idempotency = new IdempotencyService({
    keys: new IdempotencyRepository(db),
    leaseMs: IDEMPOTENCY_LEASE_MS,
    secret: config.jwtSecret,
    logger,
  })
  const uploads = buildUploads({
    db,
    store,
    logger,
    events,
    files: filesRepository,
    quotas,
    purger,
    lists: fileLists,
    maxUploadBytes: config.maxUploadBytes,
    expirySeconds: config.tusExpirySeconds,
    idleTimeoutSeconds: config.uploadIdleTimeoutSeconds,
    uploadGraceSeconds: config.uploadGraceSeconds,
    purgeWaitMs: PURGE_WAIT_MS,
  })
  const sweeper = new Sweeper({
    sweeps: new SweepRepository(db),
    purger,
    shares: sharesRepository,
    store,
    logger,
    batchSize: config.sweepBatchSize,
    maxSweepSeconds: config.sweepMaxSeconds,
    uploadGraceSeconds: config.uploadGraceSeconds,
    onFilesExpired: async (expired) => {
      await fileCache.invalidate(...expired.map((f) => f.id))
      await Promise.all(
        expired.map((f) =>
          events.publish(newEvent('file.expired', f.owner_id, { id: f.id, name: f.name })),
        ),
      )
    },
    finishClosedAccounts: async (limit) => {
      const { hiddenFiles, removedUsers } = await closedAccounts.finish(limit)
      await forgetFiles(hiddenFiles)
      return removedUsers
    },
    sweepTusUploads: (limit) => uploads.sweep.run(limit),
  })
  metrics.observedCounter(
    'satchel_sweeper_items_total',
    'Items the sweeper handled, by kind',
    'kind',
    () => ({
      ...sweeper.totals,
    }),
  )
  const tickets = new SocketTickets(config.jwtSecret, counter)
  return {
    accessTokens,
    counter,
    metrics,
    users,
    account,
    sessionGuard,
    files,
    uploads: uploads.service,
    shares,
    idempotency,
    sweeper,
    tickets,
    events,
  }
}

export type Services = ReturnType<typeof buildServices>
