import { Type } from '@fastify/type-provider-typebox'
import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth } from '../../openapi.js'
import { sendFile } from '../../send-file.js'
import type { App } from '../../types.js'
import { FileParams } from './schemas.js'

export function downloadFile(app: App, files: FilesService) {
  app.get(
    '/files/:id/content',
    {
      schema: {
        tags: ['files'],
        summary: "A file's bytes (Range, ETag); with the owner's token or a signed URL",
        security: [...bearerAuth, {}],
        params: FileParams,
        querystring: Type.Object({
          expires: Type.Optional(Type.Integer()),
          signature: Type.Optional(Type.String({ maxLength: 128 })),
        }),
      },
    },
    async (req, reply) => {
      const { expires, signature } = req.query
      // A signed URL stands in for the token, as an S3 presigned URL does.
      const file =
        expires !== undefined && signature !== undefined && !req.headers.authorization
          ? await files.getSigned(req.params.id, expires, signature)
          : await app.authenticated(req).then(() => files.get(req.user.id, req.params.id))
      return sendFile(req, reply, file, (range) => files.openContent(file, range))
    },
  )
}
