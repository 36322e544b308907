import { Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { FilesService } from '../../../files/files-service.js'
import type { SharesService } from '../../../shares/shares-service.js'
import { sendFile } from '../../send-file.js'
import type { App } from '../../types.js'
import { passwordFromHeader, TokenParams } from './schemas.js'

/**
 * Public downloads: no account, only the link. The password travels in the
 * x-share-password header or a POST body, never in the URL (URLs end up in logs).
 */
export function downloadShare(app: App, shares: SharesService, files: FilesService) {
  const serve = async (
    req: FastifyRequest,
    reply: FastifyReply,
    token: string,
    password?: string,
  ) => {
    const { share, file } = await shares.open(token, password, req.ip ?? 'unknown')
    // Every body, full or ranged, is paid for from the link's byte budget.
    return sendFile(
      req,
      reply,
      file,
      (range) => files.openContent(file, range),
      (length) => shares.reserveDownload(share, length),
    )
  }

  app.get(
    '/s/:token',
    {
      schema: {
        tags: ['public'],
        summary: 'Download a shared file (Range, ETag); password in x-share-password',
        params: TokenParams,
      },
    },
    (req, reply) => serve(req, reply, req.params.token, passwordFromHeader(req)),
  )

  app.post(
    '/s/:token',
    {
      schema: {
        tags: ['public'],
        summary: 'Download a password-protected shared file, the password in a form or JSON body',
        params: TokenParams,
        body: Type.Object({ password: Type.String({ maxLength: 1024 }) }),
      },
    },
    (req, reply) => serve(req, reply, req.params.token, req.body.password),
  )
}
