import { pino } from 'pino'
import type { LogLevel } from '../config.js'

export type Logger = pino.Logger

export function createLogger(level: LogLevel): Logger {
  return pino({
    level,
    base: { service: 'satchel' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-share-password"]'],
      censor: '[redacted]',
    },
  })
}
