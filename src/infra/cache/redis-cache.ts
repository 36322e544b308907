import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Cache, Lookup } from './cache.js'

// How long a miss keeps its mark: a load slower than this is not stored.
const MARK_TTL_MS = 30_000
// Epochs and marks are UUIDs: fixed-length, so the scripts can slice them out.
const ID_LENGTH = 36

// Every entry is a string: 'v' + the epoch it was written in + its JSON, or 'm' + a mark left
// by a miss. Writes create the epoch if it is missing (a new Redis, or evicted), so no value
// is ever written without one and none from before a lost epoch is ever read again.
const ENSURE_EPOCH = `
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end`

// KEYS: entry, epoch. ARGV: a fresh epoch, a fresh mark, the mark's TTL in ms.
const LOOKUP = `${ENSURE_EPOCH}
local entry = redis.call('GET', KEYS[1])
if entry then
  local kind = string.sub(entry, 1, 1)
  if kind == 'v' and string.sub(entry, 2, ${ID_LENGTH + 1}) == epoch then
    return {1, string.sub(entry, ${ID_LENGTH + 2})}
  end
  if kind == 'm' then return {0, epoch .. string.sub(entry, 2)} end
end
redis.call('SET', KEYS[1], 'm' .. ARGV[2], 'PX', ARGV[3])
return {0, epoch .. ARGV[2]}`

// KEYS: entry, epoch. ARGV: the stamp (epoch and mark), JSON, TTL in seconds.
const SET_IF_UNCHANGED = `
local epoch = string.sub(ARGV[1], 1, ${ID_LENGTH})
if redis.call('GET', KEYS[2]) ~= epoch then return 0 end
if redis.call('GET', KEYS[1]) ~= 'm' .. string.sub(ARGV[1], ${ID_LENGTH + 1}) then return 0 end
redis.call('SET', KEYS[1], 'v' .. epoch .. ARGV[2], 'EX', ARGV[3])
return 1`

// KEYS: entry, epoch. ARGV: a fresh epoch, JSON, TTL in seconds.
const SET = `${ENSURE_EPOCH}
redis.call('SET', KEYS[1], 'v' .. epoch .. ARGV[2], 'EX', ARGV[3])
return 1`

// As SET, unless the key holds a value of this epoch.
const ADD = `${ENSURE_EPOCH}
local entry = redis.call('GET', KEYS[1])
if entry and string.sub(entry, 1, ${ID_LENGTH + 1}) == 'v' .. epoch then return 0 end
redis.call('SET', KEYS[1], 'v' .. epoch .. ARGV[2], 'EX', ARGV[3])
return 1`

type Script = (...args: (string | number)[]) => Promise<unknown>

/**
 * The cache shared by every instance. Every conditional step is one Lua script, so it is
 * atomic against every other instance's, and every read is one round trip.
 *
 * The client is the app's shared one (src/infra/redis.ts): it fails commands at once while
 * disconnected and times them out after its `commandTimeout`. Errors are left to reject:
 * deciding to fall back is the caller's business (GuardedCache).
 */
export class RedisCache implements Cache {
  private readonly prefix: string
  private readonly epochKey: string
  private readonly scripts: Record<'lookup' | 'setIfUnchanged' | 'set' | 'add', Script>

  constructor(
    private readonly redis: Redis,
    /**
     * The deployment's REDIS_PREFIX, so deployments (or test runs) can share one Redis;
     * entries live under `<prefix>cache:`, for instances and tools (rotate-keys) alike.
     */
    redisPrefix: string,
  ) {
    this.prefix = `${redisPrefix}cache:`
    // '@' never starts a key of ours, so the epoch cannot collide with an entry.
    this.epochKey = `${this.prefix}@epoch`
    this.scripts = {
      lookup: this.script('satchelCacheLookup', LOOKUP),
      setIfUnchanged: this.script('satchelCacheSetIfUnchanged', SET_IF_UNCHANGED),
      set: this.script('satchelCacheSet', SET),
      add: this.script('satchelCacheAdd', ADD),
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    const [entry, epoch] = await this.redis.mget(this.prefix + key, this.epochKey)
    if (!entry || !epoch || !entry.startsWith(`v${epoch}`)) return undefined
    return JSON.parse(entry.slice(ID_LENGTH + 1)) as T
  }

  async set<T>(key: string, value: T, ttlSeconds: number): Promise<void> {
    await this.scripts.set(...this.keys(key), randomUUID(), JSON.stringify(value), ttlSeconds)
  }

  async add<T>(key: string, value: T, ttlSeconds: number): Promise<boolean> {
    const added = await this.scripts.add(
      ...this.keys(key),
      randomUUID(),
      JSON.stringify(value),
      ttlSeconds,
    )
    return added === 1
  }

  async lookup<T>(key: string): Promise<Lookup<T>> {
    const [hit, payload] = (await this.scripts.lookup(
      ...this.keys(key),
      randomUUID(),
      randomUUID(),
      MARK_TTL_MS,
    )) as [number, string]
    return hit === 1
      ? { hit: true, value: JSON.parse(payload) as T }
      : { hit: false, stamp: payload }
  }

  async setIfUnchanged<T>(
    key: string,
    value: T,
    ttlSeconds: number,
    stamp: string,
  ): Promise<boolean> {
    const stored = await this.scripts.setIfUnchanged(
      ...this.keys(key),
      stamp,
      JSON.stringify(value),
      ttlSeconds,
    )
    return stored === 1
  }

  async invalidate(...keys: string[]): Promise<void> {
    // DEL with no keys is a Redis syntax error.
    if (keys.length === 0) return
    await this.redis.del(...keys.map((key) => this.prefix + key))
  }

  async newEpoch(): Promise<void> {
    await this.redis.set(this.epochKey, randomUUID())
  }

  private keys(key: string): [string, string] {
    return [this.prefix + key, this.epochKey]
  }

  private script(name: string, lua: string): Script {
    // ioredis sends EVALSHA, and the script itself only when Redis does not know it yet.
    this.redis.defineCommand(name, { numberOfKeys: 2, lua })
    const command = (this.redis as unknown as Record<string, Script>)[name]!
    return command.bind(this.redis)
  }
}
