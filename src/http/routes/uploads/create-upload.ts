import { Type } from '@fastify/type-provider-typebox'
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
  uploadHeaders,
  uploadLocation,
} from './schemas.js'

export function createUpload(app: App, uploads: UploadsService) {
  app.post(
    '/uploads',
    {
      onRequest: app.authenticate,
      preValidation: requireTusResumable,
      schema: {
        tags: ['uploads'],
        operationId: 'createUpload',
        summary: 'tus: create an upload (creation, creation-with-upload, concatenation)',
        description:
          'Upload-Metadata needs `filename` (and may give `filetype`, `expires_in`) unless the upload is a partial. A body of type application/offset+octet-stream is the first bytes. `Upload-Concat: final;/uploads/a /uploads/b` joins completed partials of yours into one file.',
        security: bearerAuth,
        headers: Type.Object({
          'tus-resumable': TusResumable,
          'upload-length': Type.Optional(UploadLength),
          'upload-defer-length': Type.Optional(Type.Literal('1')),
          'upload-metadata': Type.Optional(Type.String({ maxLength: 8192 })),
          'upload-concat': Type.Optional(Type.String({ maxLength: 8192 })),
          'upload-checksum': Type.Optional(Type.String({ maxLength: 200 })),
        }),
        response: {
          201: Type.Null({
            description:
              'Created, with no body: Location of the upload; Upload-Offset, Upload-Expires',
          }),
          ...tusProblems(400, 404, 408, 410, 412, 413, 415, 423, 460, 503, 507),
        },
      },
    },
    async (req, reply) => {
      const h = req.headers
      const withBody = req.headers['content-type']?.split(';')[0]?.trim() === OFFSET_OCTET_STREAM
      const request = {
        length: h['upload-length'],
        deferLength: h['upload-defer-length'] === '1',
        metadata: h['upload-metadata'],
        concat: h['upload-concat'],
        checksum: h['upload-checksum'],
      }
      const state = await uploads
        .create(req.user.id, request, withBody ? req.raw : undefined)
        .catch((err: unknown) => {
          abandonTusBody(req, reply)
          throw err
        })
      uploadHeaders(reply, state)
      // No body at all, not even `null` (which is what send(null) would serialise): a tus
      // client reads the headers only.
      return reply
        .code(201)
        .header('location', uploadLocation(state.id))
        .send(undefined as unknown as null)
    },
  )
}
