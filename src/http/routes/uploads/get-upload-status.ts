import { Type } from '@fastify/type-provider-typebox'
import type { UploadsService } from '../../../uploads/uploads-service.js'
import { bearerAuth } from '../../openapi.js'
import { requireTusResumable } from '../../plugins/tus-protocol.js'
import type { App } from '../../types.js'
import { tusProblems, UploadParams, uploadHeaders } from './schemas.js'

export function getUploadStatus(app: App, uploads: UploadsService) {
  app.head(
    '/uploads/:id',
    {
      onRequest: app.authenticate,
      preValidation: requireTusResumable,
      // HEAD is tus's own request here, not the twin Fastify gives every GET: document it.
      config: { swagger: { exposeHeadRoute: true } },
      schema: {
        tags: ['uploads'],
        operationId: 'getUploadStatus',
        summary: 'tus: where an upload stands (resume from Upload-Offset)',
        security: bearerAuth,
        params: UploadParams,
        response: {
          200: Type.Null({
            description:
              'Upload-Offset, Upload-Length (or Upload-Defer-Length: 1), Upload-Metadata, Upload-Concat, Upload-Expires; Cache-Control: no-store',
          }),
          ...tusProblems(404, 410, 412, 503),
        },
      },
    },
    async (req, reply) => {
      const state = await uploads.status(req.user.id, req.params.id)
      uploadHeaders(reply, state)
      if (state.length === null) reply.header('upload-defer-length', '1')
      else reply.header('upload-length', String(state.length))
      if (state.metadata !== null) reply.header('upload-metadata', state.metadata)
      if (state.concat !== 'none') reply.header('upload-concat', state.concat)
      return reply.code(200).send(null)
    },
  )
}
