import { describe, expect, it } from 'vitest'
import { createLogger, type Logger } from '../../infra/logger.js'
import { requestLogger } from './request-logger.js'

/** A logger writing to `lines` that counts the children made of it (not of them). */
function countingLogger(level: 'warn' | 'info', lines: string[]) {
  const logger = createLogger(level, { write: (line) => lines.push(line) })
  const counted = { children: 0 }
  const child = logger.child.bind(logger)
  logger.child = ((...args: Parameters<Logger['child']>) => {
    counted.children++
    return child(...args)
  }) as Logger['child']
  return { logger, counted }
}

describe('the request logger', () => {
  it('makes its child logger only for the first line its level lets through', () => {
    const lines: string[] = []
    const { logger, counted } = countingLogger('warn', lines)
    const log = requestLogger(logger, { request_id: 'req-1' }, {})
    log.info({ res: { statusCode: 200 } }, 'request completed')
    log.debug('not written either')
    expect(counted.children).toBe(0)
    expect(lines).toEqual([])

    log.warn({ attempt: 2 }, 'slow store')
    log.error('failed')
    expect(counted.children).toBe(1)
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([
      { level: 40, request_id: 'req-1', attempt: 2, msg: 'slow store' },
      { level: 50, request_id: 'req-1', msg: 'failed' },
    ])
  })

  it('logs as the child would, redaction and children of its own included', () => {
    const lines: string[] = []
    const logger = createLogger('info', { write: (line) => lines.push(line) })
    const log = requestLogger(logger, { request_id: 'req-2' }, {})
    log.info({ req: { method: 'GET', url: '/files/1/content?signature=abcdefgh' } }, 'incoming')
    log.child({ part: 'upload' }).info('part stored')
    expect(lines.map((line) => JSON.parse(line))).toMatchObject([
      { request_id: 'req-2', req: { url: '/files/1/content?signature=abcd…' } },
      { request_id: 'req-2', part: 'upload', msg: 'part stored' },
    ])
    expect(log.level).toBe('info')
  })
})
