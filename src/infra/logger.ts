import { pino } from 'pino'
import type { LogLevel } from '../config.js'

export type Logger = pino.Logger

/**
 * Query parameters whose values work as credentials: signed-URL signatures and WebSocket
 * tickets, and the names a client might wrongly put a token or a password under. One list,
 * for every secret that can ever travel in a URL.
 */
const SECRET_PARAMS = new Set([
  'signature',
  'ticket',
  'token',
  'access_token',
  'refresh_token',
  'password',
])

const SECRET_HEADERS = ['authorization', 'cookie', 'x-share-password']

// A share link's token is its path (/s/<token>, /s/<token>/info); the router also takes the
// "s" percent-encoded, and a 404 for a mistyped path still carries a working token.
const LINK_TOKEN = /(\/+(?:s|%73)\/)([^/?#&\s"]+)/gi
const QUERY_PAIR = /([?&])([^=&#\s"]+)=([^&#\s"]*)/g

// Enough to tell two links apart in the log, far too little to guess the rest.
const SHOWN_CHARS = 4

/** `text` with every share-link token and secret query value cut to a short prefix. */
function redactSecrets(text: string): string {
  return text
    .replace(LINK_TOKEN, (_, prefix: string, token: string) => prefix + shortened(token))
    .replace(QUERY_PAIR, (pair, sep: string, name: string, value: string) =>
      SECRET_PARAMS.has(decodedName(name)) ? `${sep}${name}=${shortened(value)}` : pair,
    )
}

/** Logs to stdout unless `destination` is given (tests read the log back from one). */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'satchel' },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { req: requestLine, err: scrubbedError },
      // Messages built from a URL (some of Fastify's warnings are) go through the same filter.
      hooks: {
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === 'string' ? redactSecrets(arg) : arg)) as never,
          )
        },
      },
      // Request lines carry no headers (see requestLine); this catches headers logged
      // anywhere else, at the top level or one object down.
      redact: {
        paths: SECRET_HEADERS.flatMap((name) => [`headers["${name}"]`, `*.headers["${name}"]`]),
        censor: '[redacted]',
      },
    },
    destination,
  )
}

interface LoggedRequest {
  method?: string
  url?: string
  host?: string
  ip?: string
  socket?: { remoteAddress?: string; remotePort?: number }
}

/** Fastify's request line (no headers at all), with the URL's secrets cut. */
function requestLine(req: LoggedRequest) {
  return {
    method: req.method,
    url: req.url === undefined ? undefined : redactSecrets(req.url),
    host: req.host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  }
}

function scrubbedError(err: Error) {
  const out = pino.stdSerializers.err(err)
  if (typeof out.message === 'string') out.message = redactSecrets(out.message)
  if (typeof out.stack === 'string') out.stack = redactSecrets(out.stack)
  return out
}

function decodedName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll('+', ' ')).toLowerCase()
  } catch {
    return name.toLowerCase()
  }
}

function shortened(secret: string): string {
  return `${secret.length > SHOWN_CHARS ? secret.slice(0, SHOWN_CHARS) : ''}…`
}
