import { Type } from '@fastify/type-provider-typebox'
import { UnsupportedMediaTypeError } from '../../../files/files-errors.js'
import type { UploadsService } from '../../../uploads/uploads-service.js'
import { bearerAuth } from '../../openapi.js'
import {
  abandonTusBody,
  OFFSET_OCTET_STREAM,
  requireTusResumable,
} from '../../plugins/tus-protocol.js'
import type { App } from '../../types.js'
import {
  TusResumable,
  tusProblems,
  UploadLength,
  UploadOffset,
  UploadParams,
  uploadHeaders,
} from './schemas.js'

export function appendUpload(app: App, uploads: UploadsService) {
  app.patch(
    '/uploads/:id',
    {
      onRequest: app.authenticate,
      preValidation: requireTusResumable,
      schema: {
        tags: ['uploads'],
        operationId: 'appendUpload',
        summary: 'tus: append bytes at Upload-Offset (application/offset+octet-stream)',
        description:
          'Bytes that arrived are kept if the connection drops: HEAD tells where to resume. With Upload-Checksum (sha1 or sha256) the body counts only if it matches (else 460, nothing kept). One writer at a time: another PATCH meanwhile gets 423.',
        security: bearerAuth,
        params: UploadParams,
        headers: Type.Object({
          'tus-resumable': TusResumable,
          'upload-offset': UploadOffset,
          'upload-length': Type.Optional(UploadLength),
          'upload-checksum': Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: {
          204: Type.Null({ description: 'Upload-Offset: the new offset; Upload-Expires' }),
          ...tusProblems(400, 403, 404, 408, 409, 410, 412, 413, 415, 423, 460, 503, 507),
        },
      },
    },
    async (req, reply) => {
      const type = req.headers['content-type']?.split(';')[0]?.trim()
      const { id } = req.params
      const state = await (async () => {
        if (type !== OFFSET_OCTET_STREAM) throw new UnsupportedMediaTypeError(OFFSET_OCTET_STREAM)
        const request = {
          offset: req.headers['upload-offset'],
          length: req.headers['upload-length'],
          checksum: req.headers['upload-checksum'],
        }
        return uploads.append(req.user.id, id, request, req.raw)
      })().catch((err: unknown) => {
        abandonTusBody(req, reply)
        throw err
      })
      uploadHeaders(reply, state)
      return reply.code(204).send(null)
    },
  )
}
