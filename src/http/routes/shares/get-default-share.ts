import { Type } from '@fastify/type-provider-typebox'
import type { SharesService } from '../../../shares/shares-service.js'
import { bearerAuth, problems, RetryAfter } from '../../openapi.js'
import { ExpiresIn } from '../../safe-integer.js'
import type { App } from '../../types.js'
import { FileNotFound } from '../files/schemas.js'
import { FileIdParams, MaxDownloads, ShareObject, shareResponse } from './schemas.js'

export function getDefaultShare(app: App, shares: SharesService) {
  app.get(
    '/share/:file_id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shares'],
        summary: "The file's public link for these options: found (200) or created (201)",
        description:
          'Safe to repeat: the same expires_in and max_downloads give the link an earlier call made for them, while it has not expired or run out; otherwise a new one. POST /files/:id/shares always makes a new link.',
        operationId: 'getDefaultShare',
        security: bearerAuth,
        params: FileIdParams,
        querystring: Type.Object({
          expires_in: Type.Optional(ExpiresIn),
          max_downloads: Type.Optional(MaxDownloads),
        }),
        response: {
          200: { ...ShareObject, description: 'An earlier call made this link' },
          201: { ...ShareObject, description: 'This call made the link' },
          ...problems({
            404: FileNotFound,
            503: {
              description:
                '`service_unavailable`: the link changed while it was being made, or the database is unreachable; retry',
              headers: RetryAfter,
            },
          }),
        },
      },
    },
    async (req, reply) => {
      const { expires_in, max_downloads } = req.query
      const { share, created } = await shares.getOrCreateDefault(req.user.id, req.params.file_id, {
        expiresIn: expires_in,
        maxDownloads: max_downloads,
      })
      return reply.code(created ? 201 : 200).send(shareResponse(share, shares))
    },
  )
}
