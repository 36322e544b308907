import { Type } from '@fastify/type-provider-typebox'
import type { FilesService } from '../../../files/files-service.js'
import { bearerAuth, problems } from '../../openapi.js'
import { sendFile } from '../../send-file.js'
import type { App } from '../../types.js'
import { downloadResponses, FileNotFound, FileParams } from './schemas.js'

export function downloadFile(app: App, files: FilesService) {
  app.get(
    '/files/:id/content',
    {
      schema: {
        tags: ['files'],
        summary: "A file's bytes (Range, ETag); with the owner's token or a signed URL",
        description:
          'Either `Authorization: Bearer` or both `expires` and `signature`, as in the `url` of a file object. Also answers HEAD.',
        operationId: 'downloadFile',
        security: [...bearerAuth, {}],
        params: FileParams,
        querystring: Type.Object({
          expires: Type.Optional(Type.Integer({ description: 'Of a signed URL: Unix time' })),
          signature: Type.Optional(Type.String({ maxLength: 128, description: 'Of a signed URL' })),
        }),
        response: {
          ...downloadResponses,
          ...problems({
            401: '`not_authenticated`: neither a valid token nor a signature',
            403: '`invalid_signature` or `signed_url_expired` (a signed URL); `account_disabled`',
            404: `${FileNotFound}; \`blob_not_found\`: its bytes are missing from the store`,
          }),
        },
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
