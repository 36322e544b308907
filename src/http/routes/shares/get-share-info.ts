import { Type } from '@fastify/type-provider-typebox'
import type { FileRecord } from '../../../files/files-repository.js'
import type { ShareRecord } from '../../../shares/shares-repository.js'
import type { SharesService } from '../../../shares/shares-service.js'
import { anonymous } from '../../openapi.js'
import type { SharedFile } from '../../pages/share-pages.js'
import type { App } from '../../types.js'
import { linkProblems, passwordFromHeader, SharePasswordHeader, TokenParams } from './schemas.js'

/** What a link tells whoever may download from it; the same in JSON and on its page. */
export function sharedFile(
  share: ShareRecord,
  file: FileRecord,
  shares: SharesService,
): SharedFile {
  return {
    name: file.name,
    size: file.size,
    content_type: file.content_type,
    expires_at: share.expires_at?.toISOString() ?? null,
    downloads_remaining: shares.downloadsRemaining(share, file),
  }
}

export function getShareInfo(app: App, shares: SharesService) {
  app.get(
    '/s/:token/info',
    {
      schema: {
        tags: ['public'],
        summary: "A shared file's name, size and type, without the bytes",
        operationId: 'getShareInfo',
        security: anonymous,
        params: TokenParams,
        headers: SharePasswordHeader,
        response: {
          200: Type.Object({
            name: Type.String(),
            size: Type.Integer(),
            content_type: Type.String(),
            expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
            downloads_remaining: Type.Union([Type.Integer(), Type.Null()]),
          }),
          ...linkProblems,
        },
      },
    },
    async (req) => {
      const { share, file } = await shares.open(
        req.params.token,
        passwordFromHeader(req),
        req.ip ?? 'unknown',
      )
      return sharedFile(share, file, shares)
    },
  )
}
