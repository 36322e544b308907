import { Type } from '@fastify/type-provider-typebox'
import type { UploadsService } from '../../../uploads/uploads-service.js'
import { bearerAuth } from '../../openapi.js'
import { requireTusResumable } from '../../plugins/tus-protocol.js'
import type { App } from '../../types.js'
import { tusProblems, UploadParams } from './schemas.js'

export function deleteUpload(app: App, uploads: UploadsService) {
  app.delete(
    '/uploads/:id',
    {
      onRequest: app.authenticate,
      preValidation: requireTusResumable,
      schema: {
        tags: ['uploads'],
        operationId: 'deleteUpload',
        summary: 'tus termination: remove an upload and its bytes',
        description:
          'A completed upload is a file by then: only its upload record goes (delete the file at /files/:id).',
        security: bearerAuth,
        params: UploadParams,
        response: {
          204: Type.Null({ description: 'Removed' }),
          ...tusProblems(404, 412, 423, 503),
        },
      },
    },
    async (req, reply) => {
      await uploads.terminate(req.user.id, req.params.id)
      return reply.code(204).send(null)
    },
  )
}
