import type { FastifyBaseLogger } from 'fastify'
import type { pino } from 'pino'
import type { Logger } from '../../infra/logger.js'

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * A request's logger, made by Fastify for every request (its childLoggerFactory). A pino child
 * costs ~3 µs to make, as its bindings pass the redaction, and at `warn` most requests never
 * write a line: so the child is made when the first line its level lets through is written.
 */
class RequestLogger {
  #child: Logger | undefined

  constructor(
    private readonly parent: Logger,
    private readonly bindings: pino.Bindings,
  ) {}

  get level(): string {
    return (this.#child ?? this.parent).level
  }

  set level(level: string) {
    this.made().level = level
  }

  fatal(...args: unknown[]) {
    this.write('fatal', args)
  }

  error(...args: unknown[]) {
    this.write('error', args)
  }

  warn(...args: unknown[]) {
    this.write('warn', args)
  }

  info(...args: unknown[]) {
    this.write('info', args)
  }

  debug(...args: unknown[]) {
    this.write('debug', args)
  }

  trace(...args: unknown[]) {
    this.write('trace', args)
  }

  silent() {}

  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions): Logger {
    return this.made().child(bindings, options)
  }

  private write(level: Level, args: unknown[]) {
    if (!(this.#child ?? this.parent).isLevelEnabled(level)) return
    ;(this.made()[level] as (...line: unknown[]) => void)(...args)
  }

  private made(): Logger {
    this.#child ??= this.parent.child(this.bindings)
    return this.#child
  }
}

/** Fastify's childLoggerFactory: the request's logger, made only when first written to. */
export function requestLogger(
  parent: FastifyBaseLogger,
  bindings: pino.Bindings,
  options: pino.ChildLoggerOptions,
): FastifyBaseLogger {
  // A route's own level or serializers (none today) make a child that differs at once.
  if (options.level !== undefined || options.serializers !== undefined) {
    return parent.child(bindings, options)
  }
  return new RequestLogger(parent as Logger, bindings) as unknown as FastifyBaseLogger
}
