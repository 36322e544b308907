import { once } from 'node:events'
import { pino } from 'pino'
import type { Config } from '../config.js'
import type { EventBus } from '../events/event-bus.js'
import { MemoryEventBus } from '../events/memory-event-bus.js'
import { RedisEventBus } from '../events/redis-event-bus.js'
import { fileCacheKey } from '../files/file-cache.js'
import { QuotaRepository } from '../files/quota-repository.js'
import { RedisCache } from '../infra/cache/redis-cache.js'
import { createLogger } from '../infra/logger.js'
import { createRedisClient } from '../infra/redis.js'
import { openMigratedDatabase } from '../runtime.js'
import { AccountsAdmin } from '../users/accounts-admin.js'
import { ClosedAccountsRepository } from '../users/closed-accounts-repository.js'
import { InvitesRepository } from '../users/invites-repository.js'
import { publishRevocation } from '../users/session-guard.js'
import { SessionsRepository } from '../users/sessions-repository.js'
import { UsersRepository } from '../users/users-repository.js'

const REDIS_WAIT_MS = 5000

export interface CliContext {
  admin: AccountsAdmin
  /** Lines for the operator beside the output: what could not be done, what to know (stderr). */
  notes: string[]
  close(): Promise<void>
}

/**
 * Opens what the commands need from the server's own configuration: its database
 * (migrated, as the server would) and, when there is one, its Redis, through which the
 * serving instances hear of revocations and drop cached files at once. Logs go to stderr,
 * so stdout holds only the command's output.
 */
export async function openCliContext(config: Config): Promise<CliContext> {
  const logger = createLogger(
    config.logLevel === 'info' ? 'warn' : config.logLevel,
    pino.destination(2),
  )
  const notes: string[] = []
  const publisher = config.redisUrl ? createRedisClient(config.redisUrl, logger) : undefined
  const subscriber = config.redisUrl ? createRedisClient(config.redisUrl, logger) : undefined
  if (publisher) {
    await once(publisher, 'ready', { signal: AbortSignal.timeout(REDIS_WAIT_MS) }).catch(() =>
      notes.push(
        "Redis (REDIS_URL) is unreachable: running instances notice revocations within 5 s, and may serve a deleted account's files from their cache until CACHE_TTL_SECONDS pass",
      ),
    )
  }
  // Without Redis the server keeps its events in process: nothing here can reach it (and an
  // embedded database cannot be open in two processes anyway).
  const events: EventBus =
    publisher && subscriber
      ? new RedisEventBus({ publisher, subscriber, prefix: config.redisPrefix, logger })
      : new MemoryEventBus({ logger })
  const cache = publisher && new RedisCache(publisher, config.redisPrefix)
  const database = await openMigratedDatabase(config, logger)
  const { db } = database
  const admin = new AccountsAdmin({
    users: new UsersRepository(db),
    sessions: new SessionsRepository(db),
    invites: new InvitesRepository(db),
    closedAccounts: new ClosedAccountsRepository(db),
    quotas: new QuotaRepository(db, config.defaultQuotaBytes),
    revocations: { revoked: (userId, reason) => publishRevocation(events, userId, reason) },
    onFilesHidden: async (ids) => {
      if (cache && ids.length > 0) await cache.invalidate(...ids.map(fileCacheKey))
    },
  })
  return {
    admin,
    notes,
    async close() {
      await events.close()
      await database.close()
      publisher?.disconnect()
      subscriber?.disconnect()
    },
  }
}
