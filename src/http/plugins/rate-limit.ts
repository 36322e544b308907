import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { RateLimitedError } from '../../errors.js'
import type { FixedWindowCounter } from '../../infra/fixed-window.js'
import type { AccessTokens } from '../../users/access-tokens.js'
import { verifiedClaims } from './authenticate.js'

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void

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

/**
 * The general budget: `perMinute` requests per user (per IP when anonymous), shared by all
 * instances. The plugin would add its check after a route's own onRequest hooks, where
 * authentication may already have refused the request uncounted; so the general limit runs
 * in an app-level hook of ours, which Fastify runs first. It reads the token itself.
 * Routes opt out with `config: { rateLimit: false }`, or set their own with strictLimit().
 */
export async function registerRateLimit(
  app: FastifyInstance,
  options: {
    perMinute: number
    counter: FixedWindowCounter
    accessTokens: AccessTokens
    onRefused: () => void
  },
) {
  const { accessTokens } = options
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
  const general = app.rateLimit({
    max: options.perMinute,
    timeWindow: 60_000,
    keyGenerator: async (req: FastifyRequest) => {
      const user = await verifiedClaims(req, accessTokens).catch(() => undefined)
      return user ? `user:${user.userId}` : clientKey(req)
    },
  })
  app.addHook('onRequest', async (req, reply) => {
    // Exempt routes say `false`; routes with a limit of their own (strictLimit) get only that
    // one, since the plugin applies at most one limiter per request.
    if (req.routeOptions.config?.rateLimit !== undefined) return
    await general.call(app, req, reply)
  })
}

/** A stricter per-client limit for routes that check passwords. */
export function strictLimit(max: number) {
  return { rateLimit: { max, timeWindow: 60_000, keyGenerator: clientKey } }
}

// app.injectWS leaves req.ip undefined; such requests share one anonymous bucket.
function clientKey(req: FastifyRequest) {
  return `ip:${req.ip ?? 'unknown'}`
}
