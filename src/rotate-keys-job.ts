import { once } from 'node:events'
import type { Config } from './config.js'
import { fileCacheKey } from './files/file-cache.js'
import { FilesRepository } from './files/files-repository.js'
import { rewrapAllFiles } from './files/key-rotation.js'
import { RedisCache } from './infra/cache/redis-cache.js'
import type { Logger } from './infra/logger.js'
import { createRedisClient } from './infra/redis.js'
import { openMigratedDatabase } from './runtime.js'
import { parseKeyRing } from './storage/key-ring.js'

const REDIS_WAIT_MS = 5000

/**
 * What `npm run rotate-keys` does: re-wraps every data key under the ring's current master
 * key and drops the cached metadata of each file it changed. The serving instances cache
 * envelopes in Redis when there is one; otherwise in their own memory, which the restart
 * that drops the old key empties.
 */
export async function rotateKeys(config: Config & { encryptionKey: string }, logger: Logger) {
  const redis = config.redisUrl ? createRedisClient(config.redisUrl, logger) : undefined
  try {
    // Checked before anything changes: a re-wrap the cache does not hear of keeps serving
    // the old envelope until CACHE_TTL_SECONDS have passed.
    if (redis)
      await once(redis, 'ready', { signal: AbortSignal.timeout(REDIS_WAIT_MS) }).catch((err) => {
        throw new Error(`Redis (REDIS_URL) is unreachable: ${err.message}`)
      })
    const cache = redis && new RedisCache(redis, config.redisPrefix)
    const database = await openMigratedDatabase(config, logger)
    try {
      return await rewrapAllFiles({
        files: new FilesRepository(database.db),
        ring: parseKeyRing(config.encryptionKey),
        logger,
        invalidate: cache && ((ids) => cache.invalidate(...ids.map(fileCacheKey))),
      })
    } finally {
      await database.close()
    }
  } finally {
    redis?.disconnect()
  }
}
