import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { RateLimitedError } from '../../errors.js'
import type { FixedWindowCounter, WindowCount } from '../../infra/fixed-window.js'
import type { AccessClaims, AccessTokens } from '../../users/access-tokens.js'
import { tokenClaims } from './authenticate.js'

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void

const WINDOW_MS = 60_000
// The plugin's key names for its general limiter, kept so counts survive the switch.
const GENERAL_PREFIX = 'rate:all:'

/** Adapts our shared counter to @fastify/rate-limit's store interface. */
function storeClass(counter: FixedWindowCounter) {
  return class CounterStore {
    constructor(
      _params: unknown,
      private readonly prefix = 'rate:',
    ) {}

    incr(key: string, callback: Callback, timeWindow: number) {
      counter.hit(this.prefix + key, timeWindow).then((count) => callback(null, count), callback)
    }

    // Typed as route options; at run time the plugin passes the merged limits with routeInfo.
    child(route: object) {
      const { method = '', url = 'all' } =
        (route as { routeInfo?: { method?: string; url?: string } }).routeInfo ?? {}
      return new CounterStore(undefined, `${this.prefix}${method}${url}:`)
    }
  }
}

export interface RateLimitOptions {
  perMinute: number
  counter: FixedWindowCounter
  accessTokens: AccessTokens
  onRefused: () => void
}

/**
 * The stricter per-route limits (strictLimit()) go through @fastify/rate-limit. Every other
 * route spends the general budget of the returned GeneralLimit, which the request gate runs
 * first of all hooks, so a request that authentication then refuses is still counted.
 */
export async function registerRateLimit(app: FastifyInstance, options: RateLimitOptions) {
  await app.register(rateLimit, {
    global: false,
    store: storeClass(options.counter),
    enableDraftSpec: true,
    keyGenerator: clientKey,
    errorResponseBuilder: (_req, context) => {
      options.onRefused()
      return new RateLimitedError(Math.max(1, Math.ceil(context.ttl / 1000)))
    },
  })
  return new GeneralLimit(options)
}

/**
 * The general budget: `perMinute` requests per user (per IP when anonymous), shared by all
 * instances. It answers at once when it can: a token this process verified before names
 * the user, and without Redis the count is kept here.
 */
export class GeneralLimit {
  private readonly max: string

  constructor(private readonly options: RateLimitOptions) {
    this.max = String(options.perMinute)
  }

  /** Whether the route spends this budget: exempt routes say `false`, strict ones have their own. */
  applies(req: FastifyRequest): boolean {
    return req.routeOptions.config?.rateLimit === undefined
  }

  /** Counts the request: undefined when done at once, or throws if over the limit; else a promise. */
  spend(req: FastifyRequest, reply: FastifyReply): Promise<void> | undefined {
    const claims = tokenClaims(req, this.options.accessTokens)
    if (claims instanceof Promise) {
      return claims.then(
        (known) => this.spendAs(req, reply, known),
        () => this.spendAs(req, reply, undefined),
      )
    }
    return this.spendAs(req, reply, claims)
  }

  private spendAs(req: FastifyRequest, reply: FastifyReply, claims: AccessClaims | undefined) {
    const name = GENERAL_PREFIX + (claims ? `user:${claims.userId}` : clientKey(req))
    const counted = this.options.counter.hitNow(name, WINDOW_MS)
    if (counted) return this.settle(reply, counted)
    return this.options.counter.hit(name, WINDOW_MS).then((count) => this.settle(reply, count))
  }

  /** The plugin's draft-spec headers, and its refusal once the count passes the limit. */
  private settle(reply: FastifyReply, { current, ttl }: WindowCount): undefined {
    const { perMinute } = this.options
    const resetSeconds = Math.ceil(ttl / 1000)
    reply.header('ratelimit-limit', this.max)
    reply.header('ratelimit-remaining', String(Math.max(0, perMinute - current)))
    reply.header('ratelimit-reset', String(resetSeconds))
    if (current <= perMinute) return undefined
    reply.header('retry-after', String(resetSeconds))
    this.options.onRefused()
    throw new RateLimitedError(Math.max(1, resetSeconds))
  }
}

/** A stricter per-client limit for routes that check passwords. */
export function strictLimit(max: number) {
  return { rateLimit: { max, timeWindow: WINDOW_MS, keyGenerator: clientKey } }
}

// app.injectWS leaves req.ip undefined; such requests share one anonymous bucket.
function clientKey(req: FastifyRequest) {
  return `ip:${req.ip ?? 'unknown'}`
}
