import { describe, expect, it } from 'vitest'
import { createLogger } from './logger.js'

function logged(write: (log: ReturnType<typeof createLogger>) => void): string {
  const lines: string[] = []
  write(createLogger('info', { write: (line) => lines.push(line) }))
  return lines.join('')
}

const TOKEN = 'QNjCx7k2Vd9_secret-token-part'

describe('the log', () => {
  it('cuts share-link tokens in any spelling of the path to a short prefix', () => {
    for (const url of [`/s/${TOKEN}`, `/s/${TOKEN}/info`, `//s/${TOKEN}`, `/%73/${TOKEN}/info`]) {
      const text = logged((log) => log.info({ req: { method: 'GET', url } }, 'incoming request'))
      expect(text).not.toContain(TOKEN)
      expect(text).toContain('QNjC…')
    }
  })

  it('cuts secret query values, however the name is encoded, and keeps the rest', () => {
    const url = `/files/1/content?expires=99&sig%6Eature=${TOKEN}&Ticket=${TOKEN}&q=report`
    const text = logged((log) => log.info({ req: { method: 'GET', url } }, 'incoming request'))
    expect(text).not.toContain(TOKEN)
    expect(text).toContain('expires=99&sig%6Eature=QNjC…&Ticket=QNjC…&q=report')
  })

  it('cuts secrets in messages and errors built from a URL', () => {
    const text = logged((log) => {
      log.warn(`Reply was already sent for "/s/${TOKEN}"`)
      log.error({ err: new Error(`failed /ws?ticket=${TOKEN}`) }, 'request errored')
    })
    expect(text).not.toContain(TOKEN)
  })

  it('never writes a secret header, wherever the headers were logged', () => {
    const headers = { authorization: `Bearer ${TOKEN}`, 'x-share-password': TOKEN, cookie: TOKEN }
    const text = logged((log) => {
      log.info({ req: { method: 'GET', url: '/me', headers } }, 'request')
      log.info({ headers }, 'top level')
      log.info({ upstream: { headers } }, 'one object down')
    })
    expect(text).not.toContain(TOKEN)
  })
})
