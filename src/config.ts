import { availableParallelism } from 'node:os'
import { type Static, Type } from '@fastify/type-provider-typebox'
import { Value } from 'typebox/value'
import { parseKeyRing } from './storage/key-ring.js'

const Boolish = (fallback: 'true' | 'false') =>
  Type.Union([Type.Literal('true'), Type.Literal('false')], { default: fallback })
const Int = (min: number, fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  Type.Integer({ minimum: min, maximum: max, default: fallback })

/** Environment variables, as documented in the README; the one source of configuration. */
const EnvSchema = Type.Object({
  PORT: Int(0, 8080, 65535),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  // Defaults to twice the cores (see parseConfig).
  DATABASE_POOL_SIZE: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: Type.String({ pattern: '^[\\w:.-]{1,64}$', default: 'satchel:' }),
  STORAGE_DRIVER: Type.Union([Type.Literal('local'), Type.Literal('s3')], { default: 'local' }),
  S3_BUCKET: Type.Optional(Type.String({ minLength: 3 })),
  S3_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  S3_REGION: Type.String({ minLength: 1, default: 'us-east-1' }),
  S3_ACCESS_KEY_ID: Type.Optional(Type.String({ minLength: 1 })),
  S3_SECRET_ACCESS_KEY: Type.Optional(Type.String({ minLength: 1 })),
  S3_FORCE_PATH_STYLE: Boolish('false'),
  S3_PART_SIZE_MB: Int(5, 8, 5120),
  S3_QUEUE_SIZE: Int(1, 4, 64),
  S3_TIMEOUT_SECONDS: Int(1, 60, 3600),
  ALLOWED_ORIGINS: Type.Optional(Type.String()),
  TRUST_PROXY: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F.:/, ]+$' })),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  PUBLIC_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$' })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  ENCRYPTION_KEY: Type.Optional(Type.String({ minLength: 1 })),
  MAX_UPLOAD_BYTES: Int(1, 5 * 1024 ** 3),
  MAX_PARTS_PER_UPLOAD: Int(1, 10, 1000),
  // Defaults to twice MAX_UPLOAD_BYTES (see parseConfig).
  MAX_REQUEST_BYTES: Type.Optional(Type.Integer({ minimum: 1 })),
  DEFAULT_QUOTA_BYTES: Int(0, 0),
  RATE_LIMIT_PER_MINUTE: Int(1, 100),
  AUTH_RATE_LIMIT_PER_MINUTE: Int(1, 10),
  CACHE_TTL_SECONDS: Int(1, 300),
  SWEEP_INTERVAL_SECONDS: Int(1, 60),
  UPLOAD_GRACE_SECONDS: Int(1, 24 * 3600),
  UPLOAD_IDLE_TIMEOUT_SECONDS: Int(1, 30, 3600),
  TUS_EXPIRY_SECONDS: Int(60, 24 * 3600, 30 * 24 * 3600),
  MIN_FREE_DISK_BYTES: Int(0, 512 * 1024 ** 2),
  SHUTDOWN_GRACE_SECONDS: Int(0, 30, 3600),
  SWEEP_BATCH_SIZE: Int(1, 500, 10_000),
  SWEEP_MAX_SECONDS: Int(1, 30, 3600),
  ACCESS_TOKEN_TTL_SECONDS: Int(60, 15 * 60, 24 * 3600),
  REFRESH_TOKEN_TTL_SECONDS: Int(300, 30 * 24 * 3600),
  SIGNED_URL_TTL_SECONDS: Int(60, 3600, 7 * 24 * 3600),
  REGISTRATION: Type.Optional(
    Type.Union([Type.Literal('open'), Type.Literal('closed'), Type.Literal('invite')]),
  ),
})
type Env = Static<typeof EnvSchema>

export type LogLevel = Env['LOG_LEVEL']

export interface S3Config {
  bucket: string
  endpoint?: string
  region: string
  accessKeyId?: string
  secretAccessKey?: string
  forcePathStyle: boolean
  partSizeBytes: number
  queueSize: number
  /** How long a connection to the store may stay silent before the request is retried. */
  idleTimeoutMs: number
}

export interface Config {
  port: number
  host: string
  dataDir: string
  logLevel: LogLevel
  databaseUrl?: string
  /** Connections to PostgreSQL this process opens at most: queries beyond wait their turn. */
  databasePoolSize: number
  redisUrl?: string
  redisPrefix: string
  storage: { driver: 'local' } | { driver: 's3'; s3: S3Config }
  publicBaseUrl: string
  /** Origins allowed to open the WebSocket; empty allows any (tickets still required). */
  allowedOrigins: string[]
  /** Proxy addresses (IPs or CIDRs) whose X-Forwarded-For is believed; none by default. */
  trustProxy: string[]
  /** GET /metrics needs it as a bearer token; in production mode, unset refuses every scrape. */
  metricsToken?: string
  /** Undefined only before `resolveSecrets` has run in the embedded mode. */
  jwtSecret?: string
  /**
   * The ENCRYPTION_KEY key ring; undefined until resolveSecrets in the embedded mode, and
   * when encryption is off (ENCRYPTION_KEY=off, or unset with DATABASE_URL).
   */
  encryptionKey?: string
  encryptionOff: boolean
  maxUploadBytes: number
  maxPartsPerUpload: number
  /** A whole upload request, every part and its framing included, counted as it streams. */
  maxRequestBytes: number
  /** The storage quota of users without their own; 0 for unlimited. */
  defaultQuotaBytes: number
  rateLimitPerMinute: number
  /** Per client on /login and /register. */
  authRateLimitPerMinute: number
  cacheTtlSeconds: number
  sweepIntervalSeconds: number
  uploadGraceSeconds: number
  /** An upload whose client sends nothing this long ends with 408. */
  uploadIdleTimeoutSeconds: number
  /** A tus upload that receives nothing this long expires (Upload-Expires) and is swept. */
  tusExpirySeconds: number
  /** /readyz fails below this much free space where DATA_DIR is; 0 turns the check off. */
  minFreeDiskBytes: number
  /** How long in-flight requests may run after SIGTERM/SIGINT before they are cut. */
  shutdownGraceSeconds: number
  sweepBatchSize: number
  sweepMaxSeconds: number
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  signedUrlTtlSeconds: number
  /** Who may POST /register: anyone, nobody, or holders of an operator's invite. */
  registration: 'open' | 'closed' | 'invite'
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses the environment once, at start. Throws a ConfigError naming the first bad variable. */
export function parseConfig(source: NodeJS.ProcessEnv): Config {
  const raw: Record<string, string> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const env = Value.Default(EnvSchema, Value.Convert(EnvSchema, raw))
  const [first] = Value.Errors(EnvSchema, env)
  if (first) {
    const name = first.instancePath.replace(/^\//, '') || 'environment'
    const shown = name in raw ? ` (got ${JSON.stringify(raw[name])})` : ''
    throw new ConfigError(`invalid ${name}${shown}: ${first.message}`)
  }
  const e = env as Env
  const maxRequestBytes = e.MAX_REQUEST_BYTES ?? 2 * e.MAX_UPLOAD_BYTES
  if (maxRequestBytes < e.MAX_UPLOAD_BYTES) {
    throw new ConfigError('invalid MAX_REQUEST_BYTES: must be at least MAX_UPLOAD_BYTES')
  }
  if (e.DATABASE_URL && !e.JWT_SECRET) {
    throw new ConfigError('missing JWT_SECRET: required when DATABASE_URL is set')
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.DATA_DIR,
    logLevel: e.LOG_LEVEL,
    databaseUrl: e.DATABASE_URL,
    // PostgreSQL's rule of thumb, twice its cores, for a database on this machine (as in the
    // compose file): more backends than that take turns on the cores rather than finishing
    // queries (docs/benchmarks.md, 2026-11-30 session 5).
    databasePoolSize: e.DATABASE_POOL_SIZE ?? Math.max(4, 2 * availableParallelism()),
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    storage: storageConfig(e),
    metricsToken: e.METRICS_TOKEN,
    trustProxy: list(e.TRUST_PROXY),
    allowedOrigins: list(e.ALLOWED_ORIGINS),
    publicBaseUrl: (e.PUBLIC_BASE_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    jwtSecret: e.JWT_SECRET,
    encryptionKey: e.ENCRYPTION_KEY === 'off' ? undefined : checkedKeyRing(e.ENCRYPTION_KEY),
    encryptionOff: e.ENCRYPTION_KEY === 'off',
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxPartsPerUpload: e.MAX_PARTS_PER_UPLOAD,
    maxRequestBytes,
    defaultQuotaBytes: e.DEFAULT_QUOTA_BYTES,
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    authRateLimitPerMinute: e.AUTH_RATE_LIMIT_PER_MINUTE,
    cacheTtlSeconds: e.CACHE_TTL_SECONDS,
    sweepIntervalSeconds: e.SWEEP_INTERVAL_SECONDS,
    uploadGraceSeconds: e.UPLOAD_GRACE_SECONDS,
    uploadIdleTimeoutSeconds: e.UPLOAD_IDLE_TIMEOUT_SECONDS,
    tusExpirySeconds: e.TUS_EXPIRY_SECONDS,
    minFreeDiskBytes: e.MIN_FREE_DISK_BYTES,
    shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    sweepBatchSize: e.SWEEP_BATCH_SIZE,
    sweepMaxSeconds: e.SWEEP_MAX_SECONDS,
    accessTokenTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
    signedUrlTtlSeconds: e.SIGNED_URL_TTL_SECONDS,
    // A production deployment opens sign-up on purpose; a local one is for trying things.
    registration: e.REGISTRATION ?? (e.DATABASE_URL ? 'closed' : 'open'),
  }
}

function storageConfig(e: Env): Config['storage'] {
  if (e.STORAGE_DRIVER === 'local') return { driver: 'local' }
  if (!e.S3_BUCKET) throw new ConfigError('missing S3_BUCKET: required when STORAGE_DRIVER=s3')
  return {
    driver: 's3',
    s3: {
      bucket: e.S3_BUCKET,
      endpoint: e.S3_ENDPOINT,
      region: e.S3_REGION,
      accessKeyId: e.S3_ACCESS_KEY_ID,
      secretAccessKey: e.S3_SECRET_ACCESS_KEY,
      forcePathStyle: e.S3_FORCE_PATH_STYLE === 'true',
      partSizeBytes: e.S3_PART_SIZE_MB * 1024 * 1024,
      queueSize: e.S3_QUEUE_SIZE,
      idleTimeoutMs: e.S3_TIMEOUT_SECONDS * 1000,
    },
  }
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
}

function checkedKeyRing(value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  try {
    parseKeyRing(value)
  } catch (err) {
    throw new ConfigError(`invalid ENCRYPTION_KEY: ${(err as Error).message}`)
  }
  return value
}
