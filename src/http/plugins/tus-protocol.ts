import type { FastifyReply, FastifyRequest } from 'fastify'
import { TUS_VERSION } from '../../uploads/tus-protocol.js'
import { UnsupportedTusVersionError } from '../../uploads/uploads-errors.js'
import type { App } from '../types.js'

export const OFFSET_OCTET_STREAM = 'application/offset+octet-stream'

/**
 * What every /uploads route shares, registered in their own scope: every answer says
 * Tus-Resumable; a request for another protocol version gets 412 before anything else is
 * looked at; and tus bodies are left unread for the PATCH handler to stream itself (a parser
 * that consumed them would lose bytes, and clients would loop on empty PATCHes).
 */
export function registerTusProtocol(app: App) {
  app.addContentTypeParser(OFFSET_OCTET_STREAM, (_req, _payload, done) => done(null))
  app.addHook('onSend', (_req, reply, payload, done) => {
    reply.header('tus-resumable', TUS_VERSION)
    done(null, payload)
  })
}

/** preValidation hook of the routes that need a Tus-Resumable header (all but OPTIONS). */
export async function requireTusResumable(req: FastifyRequest) {
  if (req.headers['tus-resumable'] !== TUS_VERSION) throw new UnsupportedTusVersionError()
}

/**
 * An answer given before the body was read: the rest of it is drained and the connection
 * closed after the reply, so a large unread body neither lingers nor stalls the client.
 */
export function abandonTusBody(req: FastifyRequest, reply: FastifyReply) {
  if (req.raw.complete || req.raw.readableEnded) return
  reply.header('connection', 'close')
  req.raw.resume()
}
