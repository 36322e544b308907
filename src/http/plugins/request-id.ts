import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

// A caller's id is kept for tracing across services, but only if it is short and plain.
const SAFE_ID = /^[\w.:-]{1,128}$/

export function requestIdFrom(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && SAFE_ID.test(given) ? given : randomUUID()
}
